"""The interactive API docs (/docs, /redoc), served with no network."""
