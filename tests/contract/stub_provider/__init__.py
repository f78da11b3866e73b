"""``stub``: a provider that exists only in the tests, added the way docs/adding-a-provider.md
says a provider is added (a profile and an adapter in a folder of their own), so that the
contract suite proves a fourth provider needs no product file outside its folder."""
