"""Writes corpus.jsonl: the labelled texts the redaction tests measure recall and false
positives on. Run again only to change the corpus (it is seeded: the same file each time):

    python tests/privacy/make_corpus.py

Each line: {"text": ..., "entities": [{"type": ..., "value": ...}, ...]}; no entities: a
clean text that must come out exactly as it went in. Values are of the real shapes (card
numbers pass Luhn, IBANs their check digits, phone numbers are valid numbers of their
country), written into sentences of the kind users send to a chat assistant.
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

import phonenumbers

rng = random.Random(26)
OUT = Path(__file__).with_name("corpus.jsonl")
FIRST = ["anna", "li.wei", "m.schmidt", "jdoe", "priya.k", "olu", "sofia_r", "tom+news", "k.tanaka"]
DOMAINS = [
    "gmail.com",
    "example.org",
    "acme-corp.de",
    "mail.co.uk",
    "uni-hamburg.de",
    "proton.me",
    "yahoo.fr",
]


def email() -> str:
    return f"{rng.choice(FIRST)}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"


def luhn_complete(prefix: str, length: int) -> str:
    digits = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d)
        if i % 2 == 0:
            n *= 2
            n -= 9 if n > 9 else 0
        total += n
    return digits + str((10 - total % 10) % 10)


def card() -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16)])
    number = luhn_complete(prefix, length)
    style = rng.choice(["plain", "space", "dash"])
    if style == "plain" or length == 15:
        return number
    sep = " " if style == "space" else "-"
    return sep.join(number[i : i + 4] for i in range(0, 16, 4))


IBAN_LAYOUT = {
    "DE": (18, "n"),
    "FR": (23, "n"),
    "NL": (14, "b"),
    "GB": (18, "b"),
    "ES": (20, "n"),
    "IT": (23, "i"),
    "BE": (12, "n"),
}


def iban() -> str:
    country = rng.choice(list(IBAN_LAYOUT))
    length, kind = IBAN_LAYOUT[country]
    if kind == "b":  # a bank code of letters, then digits
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4))
        bban += "".join(rng.choice(string.digits) for _ in range(length - 4))
    elif kind == "i":
        bban = rng.choice(string.ascii_uppercase) + "".join(
            rng.choice(string.digits) for _ in range(length - 1)
        )
    else:
        bban = "".join(rng.choice(string.digits) for _ in range(length))
    rearranged = bban + country + "00"
    numeric = "".join(str(int(c, 36)) for c in rearranged)
    check = 98 - int(numeric) % 97
    value = f"{country}{check:02d}{bban}"
    if rng.random() < 0.5:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value


def phone() -> str:
    while True:
        region = rng.choice(["US", "GB", "DE", "FR", "IN", "CA"])
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        national = str(example.national_number)
        digits = national[:3] + "".join(rng.choice(string.digits) for _ in range(len(national) - 3))
        number = phonenumbers.parse(digits, region)
        if not phonenumbers.is_valid_number(number):
            continue
        style = rng.choice(
            [
                phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                phonenumbers.PhoneNumberFormat.NATIONAL,
                phonenumbers.PhoneNumberFormat.E164,
            ]
        )
        return phonenumbers.format_number(number, style)


def ipv4() -> str:
    return rng.choice(
        [
            f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",  # noqa: E501
        ]
    )


def ipv6() -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    if rng.random() < 0.5:
        return "2001:db8::" + ":".join(groups[:3])
    return ":".join(groups)


def ip() -> str:
    return ipv4() if rng.random() < 0.6 else ipv6()


def token(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def credentials_url() -> str:
    scheme = rng.choice(
        ["https", "postgres", "postgresql", "mysql", "redis", "amqp", "mongodb+srv", "ftp"]
    )
    host = rng.choice(
        [
            "db.internal",
            "10.0.3.7",
            "cluster0.ab12c.mongodb.net",
            "git.example.com",
            "rabbit.prod.local",
        ]
    )
    port = rng.choice(["", ":5432", ":6379", ":5672", ":3306"])
    user = rng.choice(["admin", "deploy", "app_user", "root", "svc-billing"])
    return f"{scheme}://{user}:{token(rng.randint(8, 16))}@{host}{port}"


def api_key() -> str:
    return rng.choice(["sk-", "sk-proj-", "sk-svcacct-"]) + token(
        rng.choice([32, 48, 56]), string.ascii_letters + string.digits + "_-"
    )


def aws_key() -> str:
    return rng.choice(["AKIA", "ASIA"]) + token(16, string.ascii_uppercase + string.digits)


def github_token() -> str:
    if rng.random() < 0.7:
        return rng.choice(["ghp_", "gho_", "ghs_", "ghu_"]) + token(36)
    return "github_pat_" + token(22) + "_" + token(59)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt() -> str:
    header = b64url(json.dumps({"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"}).encode())
    payload = b64url(
        json.dumps(
            {"sub": str(rng.randint(1000, 99999)), "exp": rng.randint(1.7e9, 1.9e9)}
        ).encode()
    )
    return f"{header}.{payload}.{token(43, string.ascii_letters + string.digits + '_-')}"


def private_key() -> str:
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
    body = "\n".join(
        token(64, string.ascii_letters + string.digits + "+/") for _ in range(rng.randint(3, 6))
    )
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


TEMPLATES = {
    "EMAIL": [
        "Can you write a polite reminder to {v} about the overdue invoice?",
        "My login is {v} but the reset link never arrives.",
        "Please cc {v} on the summary.",
        "Why does Outlook bounce mails to {v}?",
        "Contact: {v} (weekdays only)",
        "I signed up with {v}, can I change it to my work address?",
    ],
    "PHONE": [
        "Call me back at {v} after 5pm.",
        "The customer left {v} as their number, format it for the CRM.",
        "My mobile is {v}, is that enough for two-factor login?",
        "Text the code to {v} please.",
        "Write a voicemail greeting that mentions {v}.",
        "Is {v} a valid number for WhatsApp?",
    ],
    "CREDIT_CARD": [
        "My card {v} was declined, what could be wrong?",
        "Charge {v} exp 09/28 for the annual plan.",
        "Is {v} a Visa or a Mastercard?",
        "I entered {v} but the form says invalid.",
        "Refund went to card number {v}, when will I see it?",
    ],
    "IBAN": [
        "Please transfer the deposit to {v}.",
        "My IBAN is {v}, do you need the BIC too?",
        "Write a payment reminder with our account {v}.",
        "Is {v} a German account?",
        "Salary should go to {v} from next month.",
    ],
    "IP_ADDRESS": [
        "Our server at {v} refuses SSH connections since yesterday.",
        "Block {v} in the nginx config.",
        "Why does ping {v} time out?",
        "The logs show repeated logins from {v}.",
        "Add {v} to the allow list of the database firewall.",
    ],
    "CREDENTIALS_URL": [
        "Connect with {v}/orders and tell me why it times out.",
        "Here is my DATABASE_URL={v}/app, what is wrong with it?",
        "The worker uses {v} as its broker.",
        "Why does git clone {v}/team/repo.git ask for a password again?",
    ],
    "API_KEY": [
        "Here is my key {v}, why do I get 401 from the API?",
        "export OPENAI_API_KEY={v}",
        'client = OpenAI(api_key="{v}")',
        "Is {v} still valid or was it revoked?",
    ],
    "AWS_ACCESS_KEY": [
        "aws configure asks for the key, I typed {v}.",
        "My access key id is {v}, the secret is in the vault.",
        "AWS_ACCESS_KEY_ID={v} boto3 still says InvalidClientTokenId",
        "Which IAM user owns {v}?",
    ],
    "GITHUB_TOKEN": [
        "git push fails with my token {v}, why?",
        "GH_TOKEN={v} gh pr list returns 401",
        "I put {v} into the Actions secret, is the scope enough?",
        "curl -H 'Authorization: token {v}' https://api.github.com/user",
    ],
    "JWT": [
        "Decode this token for me: {v}",
        "Authorization: Bearer {v} gives 403, what is in the claims?",
        "My session cookie is {v}, why does it expire so fast?",
        "Is {v} signed with RS256?",
    ],
    "PRIVATE_KEY": [
        "Why does ssh reject this key?\n{v}",
        "Convert this to PKCS8 please:\n{v}\nthanks",
        "{v}\nis this key encrypted?",
    ],
}
MAKERS = {
    "EMAIL": email,
    "PHONE": phone,
    "CREDIT_CARD": card,
    "IBAN": iban,
    "IP_ADDRESS": ip,
    "CREDENTIALS_URL": credentials_url,
    "API_KEY": api_key,
    "AWS_ACCESS_KEY": aws_key,
    "GITHUB_TOKEN": github_token,
    "JWT": jwt,
    "PRIVATE_KEY": private_key,
}
PER_TYPE = 22
HARD = [
    ("EMAIL", "John.Doe@Example.COM", "Forward it to {v} asap"),
    ("EMAIL", "first.last+billing@sub.domain.co.uk", "<{v}> is the billing contact"),
    ("PHONE", "+44 (0)20 7946 0958", "London office: {v}"),
    ("PHONE", "030/12345678", "Tel. {v} (Zentrale)"),
    ("PHONE", "+49 151 23456789", "WhatsApp me on {v}"),
    ("PHONE", "(212) 555-0187", "our NY desk is {v}"),
    ("PHONE", "+33 6 12 34 56 78", "mon portable: {v}"),
    ("CREDIT_CARD", "3782 822463 10005", "Amex {v} exp 11/27"),
    ("CREDIT_CARD", "4111-1111-1111-1111", "test card {v} works in staging?"),
    ("IBAN", "DE89 3704 0044 0532 0130 00", "Konto: {v}"),
    ("IBAN", "GB29NWBK60161331926819", "sort it out with {v} please"),
    ("IP_ADDRESS", "fe80::1ff:fe23:4567:890a", "link-local {v}%eth0 answers"),
    ("IP_ADDRESS", "203.0.113.42", "from IP {v}:8443 we get resets"),
    ("CREDENTIALS_URL", "https://alice:p%40ssw0rd@intranet.example.com", "open {v}/wiki"),
    ("API_KEY", "sk-ant-api03-" + "Ab1_" * 20, "ANTHROPIC_API_KEY={v}"),
    (
        "JWT",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "jwt={v};",
    ),
]

CLEAN = [
    "How do I reverse a list in Python?",
    "Upgrade to version 3.11.9 fixed the crash, but 3.12.1 breaks asyncio.",
    "pip install 'sqlalchemy>=2.0.30,<2.1'",
    "The meeting moved to 2026-11-02 at 14:30.",
    "Order #48213 shipped on 12/03/2025 and should arrive by Friday.",
    "What is 1234 * 5678?",
    "Solve x^2 - 5x + 6 = 0.",
    "The sha256 of the file is 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.",
    "git checkout 3e1f9a2 and rebase onto main",
    "Request id 123e4567-e89b-12d3-a456-426614174000 failed with a 502.",
    "for i in range(10): print(i ** 2)",
    "SELECT count(*) FROM orders WHERE created_at > now() - interval '7 days';",
    "The model scored 0.874 on MMLU and 72.5 on GSM8K.",
    "Set the timeout to 30 s and the pool size to 10.",
    "docker run -p 8080:80 nginx:1.27",
    "The train leaves at 07:45 from platform 9.",
    "Translate 'good morning' into French.",
    "x = a[::2] + b[1::3]",
    "std::vector<int> v{1, 2, 3};",
    "Our revenue grew 12.5% to 4.2 million in Q3 2025.",
    "ISBN 978-3-16-148410-0 is the second edition.",
    "Use the regex ^[a-z]+@?$ to test it.",
    "The @Override annotation is missing on toString.",
    "Mention @alice in the pull request.",
    "Python 3.11.7 on Ubuntu 22.04 LTS",
    "Windows build 10.0.19045 shows the error.",
    "The ratio is 16:9 and the resolution 1920x1080.",
    "Temperatures between -5 and 12 degrees tomorrow.",
    "Invoice INV-2025-00042 is due in 30 days.",
    "Use chmod 755 on the script.",
    "The SKU is SKU-88231-BLK size 42.",
    "What does HTTP 429 mean?",
    "Compute the mean of 3, 7, 11 and 19.",
    "e^(i*pi) + 1 = 0",
    "npm i react@18.3.1 react-dom@18.3.1",
    "Tracking number 1Z999AA10123456784 is the UPS format, right?",
    "The function returns sk_learn_model_v2 from the registry.",
    "Rename the column user_email to contact in the migration.",
    "Between 2019 and 2024 the population rose from 83.1 to 84.6 million.",
    "Kubernetes 1.30 removed the flowcontrol v1beta2 API.",
    "MAC address format is like aa:bb:cc:dd:ee:ff, how do I parse it?",
    "Write a haiku about autumn.",
    "Explain the difference between TCP and UDP.",
    "What is the capital of Australia?",
    "Summarize the attached article in three bullet points.",
    "Give me a recipe for vegan lasagna.",
    "How many calories are in 100 g of rice?",
    "Refactor this function to use a dict comprehension.",
    "Why does my React component render twice?",
    "What is the time complexity of heapq.heappush?",
    "Convert 72 degrees Fahrenheit to Celsius.",
    "The patch bumps lodash from 4.17.20 to 4.17.21.",
    "Use port 5432 for PostgreSQL and 6379 for Redis.",
    "The year 2038 problem affects 32-bit time_t.",
    "Matrix [[1, 2], [3, 4]] has determinant -2.",
    "A 15-minute walk burns about 70 kcal.",
    "Flight LH 400 departs at 13:05.",
    "The answer is 42.",
    "Commit a1b2c3d4e5f6 introduced the regression.",
    "Use base64 to encode the string 'hello'.",
    "What's the difference between == and === in JavaScript?",
    "The lottery numbers were 4, 8, 15, 16, 23 and 42.",
    "Room 4.12 on the second floor, building B.",
    "SELECT * FROM t LIMIT 100 OFFSET 200;",
    "The cache hit ratio dropped to 0.63 after the deploy.",
    "Page 117 of the manual, section 4.3.2.",
    "Zip code 10115 is in Berlin Mitte.",
    "Uptime: 99.95% over the last 30 days.",
    "Write unit tests for the parse_date function.",
    "How do I center a div?",
    "Our API version is v2.14.4 and the SDK 0.9.3.",
    "The batch size of 256 and learning rate 3e-4 worked best.",
    "Epoch 12/50 - loss: 0.3412 - val_loss: 0.4021",
    "The UUID v7 looks like 01890a5d-ac96-774b-bcce-b302099a8057.",
    "The MD5 is d41d8cd98f00b204e9800998ecf8427e for an empty file.",
    "Is 2147483647 the largest 32-bit signed integer?",
    "Scale the image by 0.75 and rotate by 90 degrees.",
    "The sum of 1/2 + 1/4 + 1/8 converges to 1.",
    "Release 2025.11.3 ships the new dashboard.",
    "Chapter 11, verse 3.",
    "The error code is E1102 in module 7.",
    "Paste the stack trace from line 88 onwards.",
    "Does sklearn have a function like sk.metrics.f1?",
    "Meet at 10:30:00 UTC on 2026-01-15.",
    "timestamp 1733400000 is in December 2024",
    "Use the pattern \\d{3}-\\d{4} for local numbers in the form.",
    "The elevator can carry 8 people or 630 kg.",
    "Set max_tokens=4096 and temperature=0.2.",
    "The bill came to 1,234.56 EUR including VAT.",
    "What is the derivative of sin(x) * cos(x)?",
]


def clean_variants() -> list[str]:
    """More clean texts: code, numbers and ids of the kinds that look close."""
    out = []
    for _ in range(45):
        kind = rng.choice(["order", "version", "date", "hash", "uuid", "math", "code", "money"])
        if kind == "order":
            out.append(
                f"Where is order {rng.randint(100000, 999999)}? It was placed {rng.randint(2, 9)} days ago."  # noqa: E501
            )
        elif kind == "version":
            out.append(
                f"After upgrading to {rng.randint(1, 5)}.{rng.randint(0, 30)}.{rng.randint(0, 20)} the build fails."  # noqa: E501
            )
        elif kind == "date":
            out.append(
                f"The report for {rng.randint(2019, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} is missing."  # noqa: E501
            )
        elif kind == "hash":
            out.append(f"Pin the image to digest sha256:{token(64, '0123456789abcdef')}.")
        elif kind == "uuid":
            h = token(32, "0123456789abcdef")
            out.append(f"Item {h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]} not found.")
        elif kind == "math":
            out.append(f"What is {rng.randint(100, 9999)} divided by {rng.randint(2, 99)}?")
        elif kind == "code":
            out.append(
                f"arr = np.zeros(({rng.randint(2, 512)}, {rng.randint(2, 512)}), dtype=np.float32)"
            )
        else:
            out.append(
                f"The total is {rng.randint(10, 9999)}.{rng.randint(0, 99):02d} USD for {rng.randint(1, 12)} items."  # noqa: E501
            )
    return out


def main() -> None:
    lines = []
    for entity, templates in TEMPLATES.items():
        for n in range(PER_TYPE):
            value = MAKERS[entity]()
            lines.append(
                {
                    "text": templates[n % len(templates)].format(v=value),
                    "entities": [{"type": entity, "value": value}],
                }
            )
    # A few texts with several kinds, and one value twice.
    for _ in range(8):
        mail, number = email(), phone()
        text = f"I am at {mail} or {number}; again, {mail} is best."
        lines.append(
            {
                "text": text,
                "entities": [{"type": "EMAIL", "value": mail}, {"type": "PHONE", "value": number}],
            }
        )
    # Written the way people write them, not the way generators do.
    for entity, value, text in HARD:
        lines.append({"text": text.format(v=value), "entities": [{"type": entity, "value": value}]})
    for text in CLEAN + clean_variants():
        lines.append({"text": text, "entities": []})
    OUT.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    print(f"{len(lines)} lines in {OUT}")


if __name__ == "__main__":
    main()
