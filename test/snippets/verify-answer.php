<?php
// Check a license with Keyward and verify the signed answer with PHP's sodium extension (PHP 7.2+).
// Usage: php verify-answer.php <server URL> <product id, or ids: 8,16> <license key> <public key, raw base64>
// Exit code: 0 verified and pass, 1 verified and refused, 2 the answer cannot be trusted.

[, $serverUrl, $productIds, $licenseKey, $publicKeyBase64] = $argv;
// One product id: the single check. Several (8,16): the multiple check, the first one granted decides.
$asked = array_map('intval', explode(',', $productIds));

// The public key from `keyward keys show` (raw base64, 32 bytes): pin it in your product.
$publicKey = base64_decode($publicKeyBase64, true);

function untrusted(string $reason): void
{
    echo json_encode(['verified' => false, 'reason' => $reason]), "\n";
    exit(2);
}

// A fresh random nonce per check: a recorded answer cannot be replayed to it.
$nonce = bin2hex(random_bytes(16));
$target = count($asked) === 1
    ? '/api/check/' . $asked[0] . '?nonce=' . $nonce
    : '/api/check/multiple?proIds=' . implode(',', $asked) . '&nonce=' . $nonce;
$context = stream_context_create(['http' => [
    'method' => 'POST',
    'header' => "Authorization: {$licenseKey}\r\nContent-Length: 0\r\n",
    'ignore_errors' => true, // keep the body of a 429 or 413: it is signed too
    'follow_location' => 0,
    'timeout' => 10,
]]);
$body = @file_get_contents(rtrim($serverUrl, '/') . $target, false, $context);
if ($body === false) {
    untrusted('no answer from the license server');
}
$headers = [];
$lines = function_exists('http_get_last_response_headers') ? http_get_last_response_headers() : $http_response_header;
foreach ($lines as $line) {
    $parts = explode(':', $line, 2);
    if (count($parts) === 2) {
        $headers[strtolower(trim($parts[0]))] = trim($parts[1]);
    }
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

// keyward-v1 \n METHOD target \n date \n nonce \n sha256(body) in lowercase hex
$message = "keyward-v1\nPOST {$target}\n{$date}\n{$nonce}\n" . hash('sha256', $body);
try {
    $valid = sodium_crypto_sign_verify_detached($signature, $message, $publicKey);
} catch (SodiumException $e) { // a signature or key of the wrong length
    $valid = false;
}
if (!$valid) {
    untrusted('the signature does not verify');
}

// Only now is the body worth reading.
$answer = json_decode($body, true);

// The signature does not cover the request body, and a body's proIds win over the query's: a proxy can
// get a genuine answer about another product. A multiple answer must name a product this check asked for.
$proId = $answer['proId'] ?? null;
if (count($asked) > 1 && !in_array($proId, $asked, true) && ($answer['pass'] === true || $proId !== null)) {
    untrusted('the answer is about a product this check did not ask for');
}
$result = ['verified' => true, 'status' => $answer['status'], 'pass' => $answer['pass'] === true];
if ($proId !== null) {
    $result['proId'] = $proId;
}
echo json_encode($result), "\n";
exit($answer['pass'] === true ? 0 : 1);
