"""A member's keys: listed without their secret, revoked or rotated at once, dated when used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

KEY_FIELDS = {
    "id",
    "role",
    "prefix",
    "label",
    "created_at",
    "expires_at",
    "revoked_at",
    "last_used_at",
}


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def keys_of(gateway, member: dict, headers: dict):
    return gateway.client.simulate_get(f"/v1/members/{member['id']}/keys", headers=headers)


def new_key(gateway, member: dict, **body) -> dict:
    result = gateway.client.simulate_post(
        f"/v1/members/{member['id']}/keys", headers=member["headers"], json=body
    )
    assert result.status_code == 201, result.json
    return result.json


def revoke(gateway, member: dict, key_id: str, headers: dict):
    return gateway.client.simulate_delete(
        f"/v1/members/{member['id']}/keys/{key_id}", headers=headers
    )


def rotate(gateway, member: dict, key_id: str, headers: dict):
    return gateway.client.simulate_post(
        f"/v1/members/{member['id']}/keys/{key_id}/rotate", headers=headers
    )


def works(gateway, headers: dict) -> int:
    return gateway.client.simulate_get("/v1/invoices", headers=headers).status_code


def test_keys_are_listed_without_the_key_or_its_hash(gateway, member):
    second = new_key(gateway, member, label="caisse")
    result = keys_of(gateway, member, member["headers"])
    assert result.status_code == 200
    listed = result.json["keys"]
    assert [k["label"] for k in listed] == ["clé initiale", "caisse"]
    assert all(set(k) == KEY_FIELDS for k in listed)
    assert second["api_key"] not in result.text
    assert second["api_key"].startswith(listed[1]["prefix"])
    assert keys_of(gateway, member, gateway.admin()).json == result.json


def test_a_revoked_key_stops_at_once(gateway, member):
    spare = new_key(gateway, member, label="secours")
    initial = keys_of(gateway, member, member["headers"]).json["keys"][0]
    result = revoke(gateway, member, initial["id"], bearer(spare["api_key"]))
    assert result.status_code == 200
    assert result.json["revoked_at"] is not None and "api_key" not in result.json
    assert works(gateway, member["headers"]) == 401
    assert works(gateway, bearer(spare["api_key"])) == 200
    again = revoke(gateway, member, initial["id"], bearer(spare["api_key"]))
    assert again.status_code == 200
    assert again.json["revoked_at"] == result.json["revoked_at"]


def test_a_rotated_key_is_replaced_by_one_alike(gateway, member):
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    auditor = new_key(
        gateway, member, role="auditor", label="DGFiP", expires_at=expires.isoformat()
    )
    result = rotate(gateway, member, auditor["id"], member["headers"])
    assert result.status_code == 201
    fresh = result.json
    assert fresh["id"] != auditor["id"] and fresh["api_key"] != auditor["api_key"]
    assert (fresh["role"], fresh["label"], fresh["expires_at"]) == (
        "auditor",
        "DGFiP",
        auditor["expires_at"],
    )
    assert works(gateway, bearer(auditor["api_key"])) == 401
    assert works(gateway, bearer(fresh["api_key"])) == 200
    listed = {k["id"]: k for k in keys_of(gateway, member, member["headers"]).json["keys"]}
    assert listed[auditor["id"]]["revoked_at"] is not None
    assert listed[fresh["id"]]["revoked_at"] is None
    twice = rotate(gateway, member, auditor["id"], member["headers"])
    assert twice.status_code == 409
    assert twice.json["errors"][0]["code"] == "key.revoked"


def test_a_member_rotating_its_own_key_gets_the_new_one(gateway, member):
    initial = keys_of(gateway, member, member["headers"]).json["keys"][0]
    fresh = rotate(gateway, member, initial["id"], member["headers"]).json
    assert works(gateway, member["headers"]) == 401
    assert works(gateway, bearer(fresh["api_key"])) == 200


def test_another_members_keys_are_not_found(gateway, member):
    other = gateway.new_member("Librairie du Marché", "79345612000013")
    theirs = keys_of(gateway, other, other["headers"]).json["keys"][0]["id"]
    assert keys_of(gateway, other, member["headers"]).status_code == 404
    for answer in (
        revoke(gateway, other, theirs, member["headers"]),
        rotate(gateway, other, theirs, member["headers"]),
        # its key id under the caller's own member id: still not found
        revoke(gateway, member, theirs, member["headers"]),
        rotate(gateway, member, theirs, member["headers"]),
    ):
        assert answer.status_code == 404
        assert answer.json["errors"][0]["code"] == "not_found"
    assert works(gateway, other["headers"]) == 200


def test_the_admin_manages_any_members_keys_and_an_auditor_only_reads(gateway, member):
    expires = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    auditor = bearer(new_key(gateway, member, role="auditor", expires_at=expires)["api_key"])
    initial = keys_of(gateway, member, auditor).json["keys"][0]
    assert revoke(gateway, member, initial["id"], auditor).status_code == 403
    assert rotate(gateway, member, initial["id"], auditor).status_code == 403
    assert works(gateway, member["headers"]) == 200
    assert revoke(gateway, member, initial["id"], gateway.admin()).status_code == 200
    assert works(gateway, member["headers"]) == 401


def test_expiry_must_be_in_the_future(timed, clock):
    member = timed.new_member()
    result = timed.client.simulate_post(
        f"/v1/members/{member['id']}/keys",
        headers=member["headers"],
        json={"role": "auditor", "expires_at": clock.now.isoformat()},
    )
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] == "expires_at"


def test_an_auditor_key_stops_at_its_expiry_and_cannot_be_rotated(timed, clock):
    member = timed.new_member()
    expires = clock.now + timedelta(days=1)
    auditor = new_key(timed, member, role="auditor", expires_at=expires.isoformat())
    assert works(timed, bearer(auditor["api_key"])) == 200
    clock.advance(days=1)
    assert works(timed, bearer(auditor["api_key"])) == 401
    refused = rotate(timed, member, auditor["id"], member["headers"])
    assert refused.status_code == 409
    assert refused.json["errors"][0]["code"] == "key.expired"


def test_last_use_is_written_at_most_once_a_minute(timed, clock):
    member = timed.new_member()

    def last_used() -> str | None:
        # Listing is itself a use of the member's key: read it through the admin's.
        return keys_of(timed, member, timed.admin()).json["keys"][0]["last_used_at"]

    assert last_used() is None
    first = clock.now
    works(timed, member["headers"])
    assert last_used() == first.isoformat()
    clock.advance(seconds=59)
    works(timed, member["headers"])
    assert last_used() == first.isoformat()
    clock.advance(seconds=2)
    works(timed, member["headers"])
    assert last_used() == clock.now.isoformat()
