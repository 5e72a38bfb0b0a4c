-- Check results and mint errors stored by earlier versions quoted what registries, token services
-- and providers said in free text, which can echo the credentials they were sent. regcred now keeps
-- only facts from them; forget what was kept before (a check result is redone by the next verify,
-- a mint error by the next refresh).
UPDATE pull_secrets SET verification = NULL WHERE verification IS NOT NULL;
UPDATE minted_credentials SET last_error = NULL WHERE last_error IS NOT NULL;
UPDATE audit_events SET detail = json_remove(detail, '$.lastError')
    WHERE action = 'credential.expiring' AND json_valid(detail);
