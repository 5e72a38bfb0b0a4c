"""Unseal a SealedSecret with kubesealpy, an implementation of the sealed-secrets format that
shares no code with regcred: the independent check behind regcred-testkit's `Unsealer`.

Usage: python -c "$(cat unseal.py)" PRIVATE_KEY_PEM < sealed-secret.json

Like the controller, kubesealpy takes the scope label from the SealedSecret's own metadata
(namespace/name for strict scope), so a SealedSecret moved to another name or namespace does not
unseal. Prints the unsealed Secret as JSON (data values base64) and exits 0; exits 3 with the
reason on stderr when a value does not unseal; exits 2 on a usage error. A test helper only: it
runs under the virtualenv that scripts/setup makes (REGCRED_SEALED_VENV).
"""

import json
import sys

from kubesealpy import DecryptionError, NoMatchingKeyError, SealedSecret, Unsealer


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    unsealer = Unsealer.from_private_key_file(sys.argv[1])
    sealed = SealedSecret.from_yaml(sys.stdin.read())
    try:
        secret = unsealer.unseal(sealed)
    except (DecryptionError, NoMatchingKeyError) as e:
        print(f"unseal failed: {e}", file=sys.stderr)
        return 3
    json.dump(secret.model_dump(by_alias=True, exclude_none=True), sys.stdout, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
