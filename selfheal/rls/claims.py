"""Hypothesis strategies for JWT claims: well-formed, missing, malformed and escalating."""

from __future__ import annotations

import json

from hypothesis import strategies as st

PRIVILEGED_ROLES = ("service_role", "postgres", "supabase_admin")
ROLE_CLAIMS = ("authenticated", "anon", *PRIVILEGED_ROLES)


def escalating(known_users: list[str]) -> list[str]:
    """Claims naming a privileged role, where a policy may look for it (`role`, and the
    `app_metadata.role` a client cannot set but a careless policy trusts), as a known user when
    there is one. Drawn at random they are rare (about one claim in a hundred), so the checks try
    each of them as well."""
    user = {"sub": known_users[0]} if known_users else {}
    return [
        json.dumps({**user, **claim})
        for role in PRIVILEGED_ROLES
        for claim in ({"role": role}, {"app_metadata": {"role": role}})
    ]


def claims(known_users: list[str]) -> st.SearchStrategy[str | None]:
    """The text a client could put in `request.jwt.claims`."""
    users = st.sampled_from(known_users) if known_users else st.nothing()
    sub = st.one_of(users, st.uuids().map(str), st.text(max_size=40), st.integers(), st.none())
    role = st.one_of(st.sampled_from(ROLE_CLAIMS), st.text(max_size=20), st.none())
    payload = st.fixed_dictionaries(
        {},
        optional={
            "sub": sub,
            "role": role,
            "aud": st.just("authenticated"),
            "app_metadata": st.fixed_dictionaries({"role": role}),
        },
    )
    return st.one_of(
        st.none(),
        payload.map(json.dumps),
        st.text(max_size=40),  # malformed: usually not JSON at all
        st.sampled_from(["", "{", "null", "[]", '"x"', '{"sub": null}']),
    )
