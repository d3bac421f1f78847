"""The name, host and label checks: the same answers from their cache as computed."""

from __future__ import annotations

from inmesh.config import _names as names


def test_label_problems_are_reported_per_label_in_order_and_again_from_the_cache() -> None:
    labels = {"app": "ok", "bad key!": "v", "example.com/x": "-bad-", "-pfx-/k": "v"}
    first = names.check_labels(labels)
    assert first == [
        ("bad key!", "invalid label key 'bad key!' " + names._LABEL_RULE),
        ("example.com/x", "invalid label value '-bad-' " + names._LABEL_RULE),
        ("-pfx-/k", "invalid label key prefix '-pfx-' (must be a DNS subdomain)"),
    ]
    assert names.check_labels(labels) == first
    assert names.check_labels({"app": "ok", "version": "v1"}) == []


def test_cached_host_and_name_checks_answer_as_the_first_time() -> None:
    for _ in range(2):
        assert names.check_wildcard_domain("*.example.com") is None
        assert names.check_wildcard_domain("a..b") == "domain name '.b' invalid (label '' invalid)"
        assert names.check_fqdn("reviews.shop.svc.cluster.local") is None
        assert names.check_fqdn("host.123") is not None
        assert names.check_dns1123_label("v1", "subset name") is None
        assert names.check_dns1123_label("v_1", "subset name") == (
            "subset name 'v_1' is not a valid DNS-1123 label (letters, digits and '-', at most 63)"
        )
        assert names.check_object_name("Reviews") is not None
        assert names.check_namespace("shop") is None


def test_the_caches_are_bounded_and_keep_copies_of_the_callers_strings() -> None:
    name = "".join(["ns-", "copied"])
    assert names.check_namespace(name) is None
    (cache,) = [c for c in names._CACHES if name in c]
    (key,) = [k for k in cache if k == name]
    assert key is not name  # the cache does not keep the caller's (the document's) string
    for i in range(names.CACHED + 10):
        names.check_namespace(f"ns-{i}")
    assert 0 < len(cache) <= names.CACHED
    labels = names._CACHES[-1]  # _label_problems, keyed by (key, value)
    names.check_labels({"app": name})
    (pair,) = [k for k in labels if k == ("app", name)]
    assert pair[1] is not name


def test_a_long_input_is_answered_but_not_kept() -> None:
    long = "a" * 100_000
    assert names.check_namespace(long) is not None
    assert names.check_namespace(long) == names.check_namespace(long)
    assert not any(long in cache for cache in names._CACHES)
