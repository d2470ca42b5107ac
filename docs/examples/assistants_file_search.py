"""An Assistants API + file_search program as it was written for openai-python 1.x, run against
Docent instead of OpenAI (which shut the Assistants API down on 2026-08-26).

Nothing here knows about Docent: point the SDK at it with the environment.

    pip install 'openai>=1.66,<2'
    export OPENAI_BASE_URL=https://docent.example.com/v1
    export OPENAI_API_KEY=dct_...            # a Docent API token (query; ingest to upload)
    export VECTOR_STORE=vs_policies           # a vector store id or name (a Docent corpus)
    python assistants_file_search.py "How much is the meal allowance abroad?"

Optional: UPLOAD=path/to/file.pdf adds a file to the vector store first (needs the ingest
permission) and waits until it is searchable; FOLLOW_UP="..." asks a second, streamed question.
"""

from __future__ import annotations

import os
import sys

from openai import AssistantEventHandler, OpenAI  # noqa: TID251 - a client program
from openai.types.beta.threads import Message, Text, TextDelta  # noqa: TID251
from typing_extensions import override

client = OpenAI()  # reads OPENAI_BASE_URL and OPENAI_API_KEY


def find_vector_store(wanted: str):
    for store in client.vector_stores.list():
        if wanted in (store.id, store.name):
            return store
    sys.exit(f"No vector store {wanted!r}; these exist: "
             f"{', '.join(s.id for s in client.vector_stores.list()) or 'none'}")  # fmt: skip


def print_annotated(message: Message) -> None:
    """The answer with [n] in place of the 【…】 markers, and the files they cite."""
    text = message.content[0].text
    value = text.value
    cited = []
    for index, annotation in enumerate(text.annotations):
        value = value.replace(annotation.text, f"[{index}]")
        if annotation.type == "file_citation":
            cited_file = client.files.retrieve(annotation.file_citation.file_id)
            cited.append(f"[{index}] {cited_file.filename}")
    print(value)
    print("\n".join(cited))


class Printer(AssistantEventHandler):
    @override
    def on_text_created(self, text: Text) -> None:
        print("\nassistant > ", end="", flush=True)

    @override
    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        print(delta.value, end="", flush=True)

    @override
    def on_tool_call_created(self, tool_call) -> None:
        print(f"\nassistant > {tool_call.type}", flush=True)


def main() -> None:
    question = sys.argv[1] if len(sys.argv) > 1 else "What does the handbook say about travel?"
    store = find_vector_store(os.environ["VECTOR_STORE"])
    print(f"Vector store: {store.name} ({store.id}), {store.file_counts.completed} files")

    upload = os.environ.get("UPLOAD")
    if upload:
        with open(upload, "rb") as handle:
            batch = client.vector_stores.file_batches.upload_and_poll(
                vector_store_id=store.id, files=[handle]
            )
        print(f"Uploaded: {batch.status}, {batch.file_counts}")

    assistant = client.beta.assistants.create(
        name="Handbook helper",
        instructions="Answer from the handbook and cite it.",
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content=question)

    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    if run.status != "completed":
        sys.exit(f"The run ended {run.status}: {run.last_error}")
    messages = client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id)
    print_annotated(messages.data[0])
    print(f"Tokens: {run.usage.total_tokens}")

    follow_up = os.environ.get("FOLLOW_UP")
    if follow_up:
        client.beta.threads.messages.create(thread_id=thread.id, role="user", content=follow_up)
        with client.beta.threads.runs.stream(
            thread_id=thread.id, assistant_id=assistant.id, event_handler=Printer()
        ) as stream:
            stream.until_done()
        print()
        print_annotated(stream.get_final_messages()[0])

    client.beta.assistants.delete(assistant.id)
    print(f"Thread: {thread.id}")


if __name__ == "__main__":
    main()
