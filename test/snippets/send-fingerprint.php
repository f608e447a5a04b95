<?php
// Validate a license for this machine with Keyward's client endpoint, with PHP's curl extension.
// Usage: php send-fingerprint.php <server URL> <product id> <license key> [fingerprint]
// Exit code: 0 pass, 1 refused, 3 no answer. (Verify the signature too: docs/signed-answers.md.)

[, $serverUrl, $productId, $licenseKey] = $argv;

// A fingerprint stays the same across restarts of this machine and differs between machines.
// /etc/machine-id (Linux) is that, but private: send a hash of it, salted with your product's name.
function machine_fingerprint(): string
{
    $id = is_readable('/etc/machine-id') ? trim((string) file_get_contents('/etc/machine-id')) : '';
    if ($id === '') {
        $id = php_uname('n') . '|' . php_uname('s') . '|' . php_uname('m');
    }
    return hash('sha256', 'my-product:' . $id); // 64 printable characters
}

$ch = curl_init(rtrim($serverUrl, '/') . '/api/license/validate');
curl_setopt_array($ch, [
    CURLOPT_POST           => true,
    CURLOPT_POSTFIELDS     => json_encode([
        'productId'   => (int) $productId,
        'fingerprint' => $argv[4] ?? machine_fingerprint(),
        'name'        => php_uname('n'), // shown to the buyer and to staff next to the machine
        'platform'    => PHP_OS_FAMILY,
    ]),
    CURLOPT_HTTPHEADER     => ['Authorization: ' . $licenseKey, 'Content-Type: application/json'],
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_FOLLOWLOCATION => false,
    CURLOPT_TIMEOUT        => 10,
]);
$body = curl_exec($ch);
$answer = is_string($body) ? json_decode($body, true) : null;
if (!is_array($answer)) {
    echo json_encode(['status' => 'UNREACHABLE', 'pass' => false]), "\n";
    exit(3);
}
// ['status', 'pass', 'details', 'license' => [..., 'maxMachines', 'machines'], 'machine' => [...] | null]
echo json_encode([
    'status'   => $answer['status'],
    'pass'     => $answer['pass'] === true,
    'machine'  => $answer['machine']['fingerprint'] ?? null,
    'machines' => $answer['license']['machines'] ?? null,
]), "\n";
exit($answer['pass'] === true ? 0 : 1);
