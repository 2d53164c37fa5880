"""AU-list parsing shared by configs and stages."""


def test_parse_aus_accepts_commas_and_spaces():
    from jaxau import au as au_lib

    assert au_lib.parse_aus("AU01,AU04") == au_lib.parse_aus(" AU01 AU04 ") == ["AU01", "AU04"]
    assert au_lib.parse_aus("") == []
