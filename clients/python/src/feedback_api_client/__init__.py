"""The Python client of feedback-api, for chat backends.

from feedback_api_client import FeedbackClient

client = FeedbackClient("http://localhost:8000", api_key="...")
request_id = client.log_interaction(query=q, response=a, model="qwen-2.5-coder-7b")
client.feedback(request_id=request_id, is_helpful=True, user_id="u1")
"""

from feedback_api_client.client import AsyncFeedbackClient, FeedbackClient
from feedback_api_client.engine import ClientStats
from feedback_api_client.spool import SpoolInUse

__all__ = ["AsyncFeedbackClient", "ClientStats", "FeedbackClient", "SpoolInUse"]
__version__ = "0.1.0"
