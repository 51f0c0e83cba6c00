"""Accuracy over every answer: a random reviewed sample and the thumbs of the users (PPI++)."""
