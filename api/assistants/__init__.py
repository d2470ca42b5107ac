"""Assistants v2 state kept for the OpenAI-compatible API: assistants, threads (Docent
conversations), their messages and runs, and files uploaded through /v1/files."""
