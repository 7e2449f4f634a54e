"""schemathesis hooks for .ci/fuzz.

Each generated request is a new intention, so its Idempotency-Key is made unique: the
generator otherwise reuses short keys ("0") across requests, and a repeat of a POST whose
resource was deleted since gets the first answer back (as the idempotency contract says:
the same answer, 201 and the old id), which the stateful phase then reads as a created
resource that is not found (ST302). Replays, body mismatches (422) and keys still in
flight (409) are pinned down by the API tests (tests/api/idempotency.rs). The generated
text is kept as the key's start, so the key's own rules are still fuzzed.
"""

import re
import uuid

import schemathesis

MAX_KEY = 255
# The document's rule for a key; one the generator made to break it is sent as it is.
VALID_KEY = re.compile(r"^[ -~]*[!-~][ -~]*$")


@schemathesis.hook
def map_headers(ctx, headers):
    if not headers:
        return headers
    for name in list(headers):
        value = str(headers[name])
        if name.lower() == "idempotency-key" and len(value) <= MAX_KEY and VALID_KEY.fullmatch(value):
            suffix = "-" + uuid.uuid4().hex
            headers[name] = value[: MAX_KEY - len(suffix)] + suffix
    return headers


CSV_BODIES = {"/api/v1/suppressions/import"}


@schemathesis.hook
def filter_body(ctx, body):
    """A text/csv body is text on the wire: the generator's "type violations" of it (a
    number, a list where the document says string) are sent as that value's text, which
    is a CSV file like any other and answered row by row (the file tests pin down what
    a bad one gets), and a missing one as the text `null`. Keep only bodies that are
    text."""
    operation = getattr(ctx, "operation", None)
    if operation is not None and operation.path in CSV_BODIES:
        return isinstance(body, (str, bytes))
    return True
