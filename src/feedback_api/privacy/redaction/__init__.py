"""Personal data and secrets found in texts and replaced by typed placeholders (Presidio).

`entities` is light (names, configuration, counts); `redactor` loads Presidio: import it
where a redactor is built, not at start-up.
"""
