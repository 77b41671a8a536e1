"""The pipeline's overlay of recently admitted clientId owners over the stored ones reads exactly as
`ChainMap(recent, stored)` does (it replaced one for a cheaper lookup per CONNECT)."""

from __future__ import annotations

from collections import ChainMap

from hypothesis import given
from hypothesis import strategies as st

from mqttdesk.auth.pipeline import _RecentOverStored
from mqttdesk.core.model import CredentialKind, CredentialRef

_ids = st.sampled_from(["DVES_1", "DVES_2", "lamp", "kitchen", ""])
_refs = st.builds(CredentialRef, st.sampled_from([CredentialKind.USER, CredentialKind.DEVICE,
                                                   CredentialKind.BOOTSTRAP]), st.sampled_from(["a", "b"]))
_owners = st.dictionaries(_ids, _refs, max_size=4)


@given(_owners, _owners, _ids)
def test_reads_as_chainmap(recent: dict[str, CredentialRef], stored: dict[str, CredentialRef], key: str) -> None:
    overlay, chain = _RecentOverStored(recent, stored), ChainMap(recent, stored)
    assert overlay.get(key) == chain.get(key)
    assert (key in overlay) == (key in chain)
    assert dict(overlay) == dict(chain)
    assert sorted(overlay) == sorted(chain)
    assert len(overlay) == len(chain)
    if key in chain:
        assert overlay[key] == chain[key]


def test_a_later_note_shows_through_without_a_new_overlay() -> None:
    recent: dict[str, CredentialRef] = {}
    overlay = _RecentOverStored(recent, {"lamp": CredentialRef(CredentialKind.USER, "alice")})
    recent["lamp"] = CredentialRef(CredentialKind.USER, "bob")  # note_client_id writes into the same dict
    assert overlay.get("lamp") == CredentialRef(CredentialKind.USER, "bob")
