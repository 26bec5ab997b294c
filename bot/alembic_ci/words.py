"""Wording shared by the messages and the renderers."""


def plural(noun: str, count: int) -> str:
    """``noun`` as it reads after ``count``: "1 revision", "2 revisions"."""
    return noun if count == 1 else noun + "s"
