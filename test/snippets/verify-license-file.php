<?php
// Verify a Keyward license file offline, with PHP's sodium and openssl extensions (PHP 7.2+; Debian's php-cli has both).
// Usage: php verify-license-file.php <license file> <public keys: a JSON file, or the JSON itself> <license key> [fingerprint]
// Prints the payload JSON and exits 0, or prints why the file is refused and exits 1: malformed, unsupported_alg,
// unknown_key, bad_signature, wrong_key, wrong_fingerprint, not_yet_valid, expired.

if ($argc < 4) {
    fwrite(STDERR, "usage: php verify-license-file.php <license file> <public keys JSON> <license key> [fingerprint]\n");
    exit(2);
}
[, $filePath, $keysArg, $licenseKey] = $argv;
$fingerprint = $argv[4] ?? null;

function refuse(string $code): void
{
    echo $code, "\n";
    exit(1);
}

// Standard, padded base64; anything else is not a license file.
function b64(string $text): string
{
    $bytes = preg_match('~^[A-Za-z0-9+/]*={0,2}$~', $text) && strlen($text) % 4 === 0 ? base64_decode($text, true) : false;
    if ($bytes === false) {
        refuse('malformed');
    }
    return $bytes;
}

// The public keys, as GET /api/public-key answers them (ship them all: files stay valid through a rotation),
// as the list of its "keys", or as {"key id": "PEM or raw base64"}.
$publicKeys = json_decode(in_array(ltrim($keysArg)[0] ?? '', ['{', '['], true) ? $keysArg : file_get_contents($keysArg), true);
$list = $publicKeys['keys'] ?? (isset($publicKeys[0]) ? $publicKeys : null);
if (is_array($list)) {
    $publicKeys = [];
    foreach ($list as $k) {
        $publicKeys[$k['id']] = $k['raw'] ?? $k['pem'];
    }
}

// -----BEGIN KEYWARD LICENSE FILE----- base64 of {"alg","kid","enc","sig"} -----END KEYWARD LICENSE FILE-----
$text = (string) @file_get_contents($filePath);
if (!preg_match('/-----BEGIN KEYWARD LICENSE FILE-----(.*?)-----END KEYWARD LICENSE FILE-----/s', $text, $m)) {
    refuse('malformed');
}
$file = json_decode(b64(preg_replace('/\s+/', '', $m[1])), true);
foreach (['alg', 'kid', 'enc', 'sig'] as $field) {
    if (!is_string($file[$field] ?? null)) {
        refuse('malformed');
    }
}
if (!in_array($file['alg'], ['aes-256-gcm+ed25519', 'base64+ed25519'], true)) {
    refuse('unsupported_alg');
}
$publicKey = $publicKeys[$file['kid']] ?? null;
if (!is_string($publicKey)) {
    refuse('unknown_key');
}
// sodium takes the raw 32 bytes: a PEM (SPKI) key ends with them.
$publicKey = strpos($publicKey, 'BEGIN PUBLIC KEY') !== false
    ? substr(base64_decode(preg_replace('/-----[^-]+-----|\s/', '', $publicKey)), -32)
    : base64_decode($publicKey);

// The signature covers "keyward-license-v1/" followed by enc, exactly as in the file.
try {
    $signature = base64_decode($file['sig'], true);
    $valid = $signature !== false && sodium_crypto_sign_verify_detached($signature, 'keyward-license-v1/' . $file['enc'], $publicKey);
} catch (SodiumException $e) { // a signature or key of the wrong length
    $valid = false;
}
if (!$valid) {
    refuse('bad_signature');
}

if ($file['alg'] === 'base64+ed25519') {
    $json = b64($file['enc']);
} else {
    // AES-256-GCM: ciphertext.iv.tag, the key is SHA-256 of the license key (+ "\n" + fingerprint for a machine's file).
    $parts = explode('.', $file['enc']);
    if (count($parts) !== 3) {
        refuse('malformed');
    }
    [$ciphertext, $iv, $tag] = array_map('b64', $parts);
    if (strlen($iv) !== 12 || strlen($tag) !== 16) {
        refuse('malformed');
    }
    // Given a fingerprint, the license key alone is tried next: a file bound to no machine opens on every one.
    $json = false;
    foreach ($fingerprint === null ? [$licenseKey] : ["{$licenseKey}\n{$fingerprint}", $licenseKey] as $secret) {
        $json = openssl_decrypt($ciphertext, 'aes-256-gcm', hash('sha256', $secret, true), OPENSSL_RAW_DATA, $iv, $tag);
        if ($json !== false) {
            break;
        }
    }
    if ($json === false) {
        refuse('wrong_key'); // another license key, or another machine's file
    }
}

// {license: {id, productIds, entitlements, expiresAt, maxMachines, maxUses}, machine: {fingerprint} | null, issuedAt, expiresAt}
$payload = json_decode($json, true);
$iso = '/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/';
if (!is_array($payload['license'] ?? null) || !array_key_exists('machine', $payload)
    || !preg_match($iso, $payload['issuedAt'] ?? '') || !preg_match($iso, $payload['expiresAt'] ?? '')) {
    refuse('malformed');
}
if ($payload['machine'] !== null && ($payload['machine']['fingerprint'] ?? null) !== $fingerprint) {
    refuse('wrong_fingerprint');
}
$now = new DateTimeImmutable('now');
if ($now < new DateTimeImmutable($payload['issuedAt'])) {
    refuse('not_yet_valid');
}
if ($now > new DateTimeImmutable($payload['expiresAt'])) {
    refuse('expired');
}
echo $json, "\n";
exit(0);
