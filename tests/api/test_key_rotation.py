"""Rotation of the credential encryption key: with the key file in the data directory, and
with keys given by ``PATCHBAY_SECRET_KEYS``. A server keeps serving beside the rotation."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from patchbay.crypto import KEY_FILE_NAME, KeyRing, KeyRingError, read_key_file
from patchbay.services.credentials.key_rotation import rotate

AUTHS = "/core/v1/authentications"


async def _token_env(api, headers) -> str:
    r = await api.client.get(
        "/core/v1/services/http-client/versions/1/environments", headers=headers
    )
    assert r.status_code == 200, r.text
    return next(e["id"] for e in r.json()["elements"] if e["title"] == "Token")


async def _raw(api) -> dict[str, str]:
    async with api.platform.db.session() as s:
        rows = await s.execute(text("SELECT id, credentials FROM authentications"))
        return {row[0]: row[1] for row in rows}


async def _seed(api, headers_by_owner) -> dict[str, tuple[dict, dict]]:
    """Two authentications per owner: id -> (owner headers, credentials)."""
    env_id = await _token_env(api, next(iter(headers_by_owner.values())))
    made = {}
    for owner, headers in headers_by_owner.items():
        for i in range(2):
            credentials = {"token": f"{owner}-secret-{i}"}
            made[await api.create_auth(headers, env_id, credentials)] = (headers, credentials)
    return made


async def _assert_served(api, made) -> None:
    for auth_id, (headers, credentials) in made.items():
        r = await api.client.get(f"{AUTHS}/{auth_id}/full", headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["credentials"] == credentials


async def test_rotation_with_the_key_file(api, settings):
    _, user = await api.new_user()
    made = await _seed(api, {"user": user, "org": api.master})
    key_file = settings.data_dir / KEY_FILE_NAME
    old_keys = read_key_file(key_file)
    assert len(old_keys) == 1
    before = await _raw(api)
    assert set(before) == set(made)

    report = await rotate(api.platform.db, api.platform.keyring)
    assert report.rotated == len(made)
    assert report.key_file_updated is True

    new_keys = read_key_file(key_file)
    assert len(new_keys) == 1 and new_keys != old_keys
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    after = await _raw(api)
    assert all(after[i] != before[i] for i in made)

    # the running server (which loaded the old key) still serves every credential
    await _assert_served(api, made)

    fresh = KeyRing.load([], settings.data_dir, create=False)
    assert fresh.keys == new_keys
    old_only = KeyRing(old_keys)
    for auth_id, (_, credentials) in made.items():
        assert fresh.decrypt(after[auth_id]) == credentials
        assert fresh.is_current(after[auth_id])
        with pytest.raises(KeyRingError):
            old_only.decrypt(after[auth_id])


async def test_server_encrypts_under_the_new_key_after_a_rotation(api, settings):
    """Credentials written by a server that started before the rotation must stay readable
    once the old key is gone."""
    _, user = await api.new_user()
    env_id = await _token_env(api, user)
    first = await api.create_auth(user, env_id, {"token": "before"})
    await rotate(api.platform.db, api.platform.keyring)
    created = await api.create_auth(user, env_id, {"token": "after-create"})
    r = await api.client.put(
        f"{AUTHS}/{first}", json={"name": "n", "credentials": {"token": "after-put"}}, headers=user
    )
    assert r.status_code == 200, r.text

    fresh = KeyRing.load([], settings.data_dir, create=False)
    raw = await _raw(api)
    assert fresh.decrypt(raw[created]) == {"token": "after-create"}
    assert fresh.decrypt(raw[first]) == {"token": "after-put"}
    await _assert_served(
        api, {created: (user, {"token": "after-create"}), first: (user, {"token": "after-put"})}
    )


async def test_rotation_with_keys_from_the_environment(settings, make_api):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with_old = settings.model_copy(update={"secret_keys": old})
    async with make_api(with_old) as api:
        master = api.master
        user_record, user = await api.new_user()
        made = await _seed(api, {"user": user, "org": master})
        before = await _raw(api)
    assert not (settings.data_dir / KEY_FILE_NAME).exists()
    old_only = KeyRing([old])
    assert all(old_only.decrypt(before[i]) == c for i, (_, c) in made.items())

    # the operator puts the new key first; the old one still decrypts meanwhile
    async with make_api(settings.model_copy(update={"secret_keys": f"{new},{old}"})) as api:
        assert api.platform.keyring.keys == [new, old]
        await _assert_served(api, made)
        report = await rotate(api.platform.db, api.platform.keyring)
        assert report.rotated == len(made)
        assert report.key_file_updated is False
        after = await _raw(api)
        assert all(after[i] != before[i] for i in made)
        await _assert_served(api, made)
        # everything is now under the first key: a second pass has nothing to do
        assert (await rotate(api.platform.db, api.platform.keyring)).rotated == 0
    assert not (settings.data_dir / KEY_FILE_NAME).exists()

    new_only = KeyRing([new])
    for auth_id, (_, credentials) in made.items():
        assert new_only.decrypt(after[auth_id]) == credentials
        with pytest.raises(KeyRingError):
            old_only.decrypt(after[auth_id])

    # ...so the old key can be dropped from PATCHBAY_SECRET_KEYS
    async with make_api(settings.model_copy(update={"secret_keys": new})) as api:
        await _assert_served(api, made)
        assert user_record["id"]
