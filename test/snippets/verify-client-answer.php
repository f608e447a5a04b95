<?php
// Call a Keyward client endpoint and verify its version 2 signature with PHP's curl and sodium extensions.
// Usage: php verify-client-answer.php <server URL> <validate|activate|deactivate|heartbeat> <product id> <license key> <public key, raw base64> [fingerprint]
// Exit code: 0 verified and pass, 1 verified and refused, 2 the answer cannot be trusted.

[, $serverUrl, $endpoint, $productId, $licenseKey, $publicKeyBase64] = $argv;
$fingerprint = $argv[6] ?? null;

// The public key from `keyward keys show` (raw base64, 32 bytes): pin it in your product.
$publicKey = base64_decode($publicKeyBase64, true);

function untrusted(string $reason): void
{
    echo json_encode(['verified' => false, 'reason' => $reason]), "\n";
    exit(2);
}

// A fresh random nonce per call, in the body: a recorded answer cannot be replayed to it.
$nonce = bin2hex(random_bytes(16));
// Keep the exact bytes you send: their hash is in the signed message.
$request = json_encode(['productId' => (int) $productId, 'fingerprint' => $fingerprint, 'nonce' => $nonce]);
$target = '/api/license/' . $endpoint;
$headers = [];
$ch = curl_init(rtrim($serverUrl, '/') . $target);
curl_setopt_array($ch, [
    CURLOPT_POST           => true,
    CURLOPT_POSTFIELDS     => $request,
    CURLOPT_HTTPHEADER     => ['Authorization: ' . $licenseKey, 'Content-Type: application/json'],
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_FOLLOWLOCATION => false, // a redirect is not the server you pinned
    CURLOPT_TIMEOUT        => 10,
    CURLOPT_HEADERFUNCTION => function ($ch, string $line) use (&$headers): int {
        $parts = explode(':', $line, 2);
        if (count($parts) === 2) {
            $headers[strtolower(trim($parts[0]))] = trim($parts[1]);
        }
        return strlen($line);
    },
]);
$body = curl_exec($ch);
if (!is_string($body)) {
    untrusted('no answer from the license server');
}
$signature = base64_decode($headers['x-keyward-signature'] ?? '', true);
$date = $headers['x-keyward-date'] ?? '';
if (!$signature || $date === '') {
    untrusted('the answer is not signed');
}

// The date: whole-second ISO UTC, within 5 minutes of this machine's clock.
if (!preg_match('/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/', $date) || abs(time() - strtotime($date)) > 300) {
    untrusted('the answer is too old, from the future, or has no valid date');
}

// keyward-v2 \n METHOD target \n date \n nonce \n sha256(request body) \n sha256(answer body), hashes in lowercase hex
$message = "keyward-v2\nPOST {$target}\n{$date}\n{$nonce}\n" . hash('sha256', $request) . "\n" . hash('sha256', $body);
try {
    $valid = sodium_crypto_sign_verify_detached($signature, $message, $publicKey);
} catch (SodiumException $e) { // a signature or key of the wrong length
    $valid = false;
}
if (!$valid) {
    untrusted('the signature does not verify');
}

// Only now is the body worth reading. It answers this request: this product, this fingerprint.
$answer = json_decode($body, true);
echo json_encode([
    'verified' => true,
    'status'   => $answer['status'],
    'pass'     => $answer['pass'] === true,
    'machine'  => $answer['machine']['fingerprint'] ?? null,
]), "\n";
exit($answer['pass'] === true ? 0 : 1);
