"""The fake OpenAI server driven through the official `openai` SDK, endpoint by endpoint:
one module per API of tests/fakes/openai_server/."""
