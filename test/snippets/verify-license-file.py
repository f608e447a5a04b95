# Verify a Keyward license file offline, with Python 3.7+ and the cryptography package (Debian: python3-cryptography).
# Usage: python3 verify-license-file.py <license file> <public keys: a JSON file, or the JSON itself> <license key> [fingerprint]
# Prints the payload JSON and exits 0, or prints why the file is refused and exits 1: malformed, unsupported_alg,
# unknown_key, bad_signature, wrong_key, wrong_fingerprint, not_yet_valid, expired.
import base64
import binascii
import hashlib
import json
import re
import sys
from datetime import datetime, timezone

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import load_pem_public_key


class Refused(Exception):
    """The file is not to be trusted here and now; its argument is the reason code."""


def b64(text):
    # Standard, padded base64; anything else is not a license file.
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise Refused("malformed")


def iso_time(text):
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", text):
        raise Refused("malformed")
    # fromisoformat before Python 3.11 takes neither "Z" nor other than 3 or 6 decimals.
    seconds, _, fraction = text[:-1].partition(".")
    return datetime.fromisoformat(seconds + "." + (fraction + "000000")[:6] + "+00:00")


def load_public_keys(arg):
    # The public keys, as GET /api/public-key answers them (ship them all: files stay valid through a rotation),
    # as the list of its "keys", or as {"key id": "PEM or raw base64"}.
    if arg.lstrip()[:1] not in ("{", "["):
        with open(arg, encoding="utf-8") as f:
            arg = f.read()
    keys = json.loads(arg)
    listed = keys if isinstance(keys, list) else keys.get("keys")
    if isinstance(listed, list):
        return {k["id"]: k.get("raw") or k["pem"] for k in listed}
    return keys


def verify(text, public_keys, license_key, fingerprint):
    # -----BEGIN KEYWARD LICENSE FILE----- base64 of {"alg","kid","enc","sig"} -----END KEYWARD LICENSE FILE-----
    armour = re.search(r"-----BEGIN KEYWARD LICENSE FILE-----(.*?)-----END KEYWARD LICENSE FILE-----", text, re.S)
    if not armour:
        raise Refused("malformed")
    try:
        file = json.loads(b64(re.sub(r"\s+", "", armour.group(1))))
    except ValueError:
        raise Refused("malformed")
    if not isinstance(file, dict) or not all(isinstance(file.get(f), str) for f in ("alg", "kid", "enc", "sig")):
        raise Refused("malformed")
    if file["alg"] not in ("aes-256-gcm+ed25519", "base64+ed25519"):
        raise Refused("unsupported_alg")
    key_text = public_keys.get(file["kid"])
    if not isinstance(key_text, str):
        raise Refused("unknown_key")
    if "BEGIN PUBLIC KEY" in key_text:
        public_key = load_pem_public_key(key_text.encode("ascii"))
    else:
        public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key_text))

    # The signature covers "keyward-license-v1/" followed by enc, exactly as in the file.
    try:
        public_key.verify(base64.b64decode(file["sig"], validate=True), ("keyward-license-v1/" + file["enc"]).encode("utf-8"))
    except (InvalidSignature, binascii.Error, ValueError):
        raise Refused("bad_signature")

    if file["alg"] == "base64+ed25519":
        plain = b64(file["enc"])
    else:
        # AES-256-GCM: ciphertext.iv.tag, the key is SHA-256 of the license key (+ "\n" + fingerprint for a machine's file).
        parts = file["enc"].split(".")
        if len(parts) != 3:
            raise Refused("malformed")
        ciphertext, iv, tag = (b64(part) for part in parts)
        if len(iv) != 12 or len(tag) != 16:
            raise Refused("malformed")
        # Given a fingerprint, the license key alone is tried next: a file bound to no machine opens on every one.
        secrets = [license_key] if fingerprint is None else [license_key + "\n" + fingerprint, license_key]
        plain = None
        for secret in secrets:
            try:
                plain = AESGCM(hashlib.sha256(secret.encode("utf-8")).digest()).decrypt(iv, ciphertext + tag, None)
                break
            except InvalidTag:
                pass
        if plain is None:
            raise Refused("wrong_key")  # another license key, or another machine's file

    # {license: {id, productIds, entitlements, expiresAt, maxMachines, maxUses}, machine: {fingerprint} | null, issuedAt, expiresAt}
    try:
        payload = json.loads(plain)
    except ValueError:
        raise Refused("malformed")
    if not isinstance(payload, dict) or not isinstance(payload.get("license"), dict) or "machine" not in payload:
        raise Refused("malformed")
    issued_at, expires_at = iso_time(payload.get("issuedAt")), iso_time(payload.get("expiresAt"))
    machine = payload["machine"]
    if machine is not None and (not isinstance(machine, dict) or machine.get("fingerprint") != fingerprint):
        raise Refused("wrong_fingerprint")
    now = datetime.now(timezone.utc)
    if now < issued_at:
        raise Refused("not_yet_valid")
    if now > expires_at:
        raise Refused("expired")
    return plain.decode("utf-8")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        print("usage: python3 verify-license-file.py <license file> <public keys JSON> <license key> [fingerprint]", file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1], encoding="utf-8") as f:
        license_text = f.read()
    try:
        print(verify(license_text, load_public_keys(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
    except Refused as refused:
        print(refused.args[0])
        sys.exit(1)
