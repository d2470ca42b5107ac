"""Deterministic ids with the prefixes and shapes the real API uses."""

from __future__ import annotations

import hashlib
import string

_HEX = "0123456789abcdef"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase

# kind -> (prefix, alphabet, length), lengths as seen in the recordings.
ID_SHAPES: dict[str, tuple[str, str, int]] = {
    "file": ("file-", _B58, 22),
    "vector_store": ("vs_", _HEX, 32),
    "file_batch": ("vsfb_", _HEX, 32),
    "response": ("resp_", _HEX, 50),
    "response_message": ("msg_", _HEX, 50),
    "file_search_call": ("fs_", _HEX, 50),
    "conversation": ("conv_", _HEX, 48),
    "conversation_item": ("msg_", _HEX, 48),
    "assistant": ("asst_", _B62, 24),
    "thread": ("thread_", _B62, 24),
    "message": ("msg_", _B62, 24),
    "run": ("run_", _B62, 24),
    "step": ("step_", _B62, 24),
    "call": ("call_", _B62, 24),
    "chat_completion": ("chatcmpl-", _B62, 29),
}


class IdFactory:
    """Random-looking ids derived from a seed and a counter, so a reset replays the same ids."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.counter = 0
        # Filler has its own counter so that entity ids do not depend on how much was streamed.
        self.noise_counter = 0

    def new(self, kind: str) -> str:
        prefix, alphabet, length = ID_SHAPES[kind]
        self.counter += 1
        return prefix + self._chars(f"{kind}:{self.counter}", alphabet, length)

    def noise(self, length: int) -> str:
        """Filler like the wire's `obfuscation` field."""
        self.noise_counter += 1
        return self._chars(f"noise:{self.noise_counter}", _B62, length)

    def _chars(self, label: str, alphabet: str, length: int) -> str:
        out: list[str] = []
        block = 0
        while len(out) < length:
            digest = hashlib.sha256(f"{self.seed}:{label}:{block}".encode()).digest()
            out.extend(alphabet[byte % len(alphabet)] for byte in digest)
            block += 1
        return "".join(out[:length])
