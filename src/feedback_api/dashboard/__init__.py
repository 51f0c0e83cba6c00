"""What people look at: the web dashboard (`GET /dashboard`) and `feedback-api top`."""
