"""List pages carry accessible names as markup, never as escaped text (issue 19 item 3).

The names are spliced into Flask-Admin's header and rows; spliced as escaped text, the header
cell of the row icons once showed as a line of raw HTML above every list."""

import re

import pytest

LISTS = ["case", "letter", "visit", "call", "callback", "party", "user", "outgoingmessage"]


@pytest.mark.parametrize("endpoint", LISTS)
def test_list_header_and_rows_are_markup(endpoint, government, create_user, login_as, create_case):
    admin = create_user("admin")
    create_case(by=admin)
    page = login_as(admin).get(f"/admin/{endpoint}/").get_data(as_text=True)
    assert "&lt;th" not in page and "&lt;span" not in page
    head = re.search(r"<thead>(.*?)</thead>", page, re.S).group(1)
    if 'class="action-rowtoggle"' in head:
        assert 'aria-label="全选本页"' in head
    if "list-buttons-column" in page:
        assert '<th class="list-buttons-column"><span class="sr-only">操作</span></th>' in head
