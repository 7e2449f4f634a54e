"""schemathesis hooks for .ci/fuzz.

Each generated request is a new intention, so its Idempotency-Key is made unique: the
generator otherwise reuses short keys ("0") across requests, and a repeat of a POST whose
resource was deleted since gets the first answer back (as the idempotency contract says:
the same answer, 201 and the old id), which the stateful phase then reads as a created
resource that is not found (ST302). Replays, body mismatches (422) and keys still in
flight (409) are pinned down by the API tests (tests/api/idempotency.rs). The generated
text is kept as the key's start, so the key's own rules are still fuzzed.
"""

import uuid

import schemathesis

MAX_KEY = 255


@schemathesis.hook
def map_headers(ctx, headers):
    if not headers:
        return headers
    for name in list(headers):
        if name.lower() == "idempotency-key":
            suffix = "-" + uuid.uuid4().hex
            headers[name] = str(headers[name])[: MAX_KEY - len(suffix)] + suffix
    return headers
