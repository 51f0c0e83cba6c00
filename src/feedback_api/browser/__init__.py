"""What a chat frontend loads: feedback.js, the ES module that sends its users' votes."""
