"""The 提醒 tab (issue 19 item 4): the unread count agrees with the list, the list is paged
(no silent cap at 50), grouped by case and by level with counts, the level in words, and
"全部标为已读" marks every unread notification however many there are."""

from __future__ import annotations

import re
from datetime import timedelta

import flask_babel
import pytest
import sqlalchemy as sa

from models import Notification, User, db
from models.base import utcnow
from models.deadlines import level_title
from models.queries.worklists import notification_cases, notification_levels, notification_page


@pytest.fixture
def leader_with_notes(app, create_user, create_case):
    """A leader with 146 unread notifications (3 cases, levels 1-3, 6 of no case) and 4 read;
    a second user with notifications of their own."""
    leader = create_user("leader")
    other = create_user("leader")
    cases = [create_case(subject=f"事项{i}") for i in range(3)]
    now = utcnow()
    rows = []
    for i in range(146):
        case = None if i < 6 else cases[i % 3]
        rows.append(
            {
                "user_id": leader.id,
                "case_id": case.id if case else None,
                "level": 1 + i % 3,
                "message": f"提醒{i}",
                "created_at": now - timedelta(minutes=200 - i),
                "read_at": None,
            }
        )
    for i in range(4):
        rows.append(
            {
                "user_id": leader.id,
                "case_id": cases[0].id,
                "level": 1,
                "message": f"已读{i}",
                "created_at": now - timedelta(days=1),
                "read_at": now,
            }
        )
    rows += [
        {
            "user_id": other.id,
            "case_id": cases[1].id,
            "level": 3,
            "message": "别人的提醒",
            "created_at": now,
            "read_at": None,
        }
    ] * 3
    db.session.execute(sa.insert(Notification), rows)
    db.session.commit()
    return leader, other, cases


def unread_of(user) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(User.unread_notification_count).where(User.id == user.id))


def test_pages_cover_every_notification_and_counts_agree(leader_with_notes):
    leader, _other, _cases = leader_with_notes
    assert unread_of(leader) == 146
    first = notification_page(leader)
    assert (first["total"], first["unread"], first["pages"]) == (150, 146, 3)
    assert len(first["items"]) == 50
    seen = []
    for number in range(1, first["pages"] + 1):
        seen += notification_page(leader, page=number)["items"]
    assert len(seen) == len({note.id for note in seen}) == 150
    # Unread first, newest first; read ones last.
    assert all(note.read_at is None for note in seen[:146])
    assert [note.message for note in seen[:2]] == ["提醒145", "提醒144"]
    # A page past the end shows the last one; a bad page number the first.
    assert notification_page(leader, page=99)["page"] == 3
    assert notification_page(leader, page=0)["page"] == 1
    # Filters: one level, one case, notifications of no case, unread only.
    assert notification_page(leader, level=3)["total"] == 48
    assert notification_page(leader, case_id=0)["total"] == 6
    assert notification_page(leader, unread_only=True)["total"] == 146


def test_groups_by_level_and_by_case_add_up(leader_with_notes):
    leader, _other, cases = leader_with_notes
    levels = notification_levels(leader)
    assert [level for level, _total, _unread in levels] == [3, 2, 1]
    assert sum(total for _level, total, _unread in levels) == 150
    assert sum(unread for _level, _total, unread in levels) == 146
    grouped = notification_cases(leader)
    assert grouped["more"] == 0
    groups = {group["case_id"]: group for group in grouped["groups"]}
    assert set(groups) == {None, *(case.id for case in cases)}
    assert sum(group["total"] for group in groups.values()) == 150
    assert sum(group["unread"] for group in groups.values()) == 146
    assert groups[None]["total"] == 6 and groups[None]["number"] is None
    assert groups[cases[0].id]["number"] == cases[0].number
    assert groups[cases[0].id]["total"] - groups[cases[0].id]["unread"] == 4
    assert notification_cases(leader, limit=2)["more"] == 2


def test_level_in_words():
    assert [level_title(n) for n in (None, 0, 1, 2, 3, 7)] == [
        "一般",
        "一般",
        "一般",
        "重要",
        "紧急",
        "紧急",
    ]


def test_tab_shows_the_full_count_pages_and_words(leader_with_notes, client, login_as):
    leader, _other, cases = leader_with_notes
    login_as(leader)
    page = client.get("/admin/worklist/?tab=notifications").get_data(as_text=True)
    assert 'id="notification-count">146<' in page
    # The navigation bar's badge says the same.
    assert re.search(r'badge badge-danger">146<', page)
    assert "第 1 / 3 页" in page and 'rel="next"' in page
    assert "共 150 条，未读 146 条" in page
    assert "紧急" in page and "重要" in page and "一般" in page
    assert cases[0].number in page and "系统提醒" in page
    last = client.get("/admin/worklist/?tab=notifications&page=3").get_data(as_text=True)
    assert "已读0" in last and "第 3 / 3 页" in last
    one_case = client.get(f"/admin/worklist/?tab=notifications&case={cases[1].id}")
    assert f"事项 {cases[1].number} 的提醒" in one_case.get_data(as_text=True)
    bad = client.get("/admin/worklist/?tab=notifications&page=x&level=-1&case=%27")
    assert bad.status_code == 200


def test_read_all_marks_every_unread_one(leader_with_notes, client, login_as):
    leader, other, cases = leader_with_notes
    login_as(leader)
    # One case's group first.
    of_case = notification_page(leader, case_id=cases[1].id, unread_only=True)["total"]
    assert of_case == 47
    response = client.post("/admin/workflow/notifications/read/", data={"case": cases[1].id})
    assert response.status_code == 302 and "tab=notifications" in response.location
    assert unread_of(leader) == 146 - of_case
    response = client.post("/admin/workflow/notifications/read/")
    assert response.status_code == 302
    assert unread_of(leader) == 0
    # Nobody else's notifications change.
    assert unread_of(other) == 3
    page = client.get("/admin/worklist/?tab=notifications").get_data(as_text=True)
    assert 'id="notification-count">0<' in page and "全部标为已读" not in page


def test_english_level_words(leader_with_notes, client, login_as):
    leader, _other, _cases = leader_with_notes
    login_as(leader)
    client.get("/lang/en")
    # The test's app context outlives the request: choose the language afresh.
    flask_babel.refresh()
    page = client.get("/admin/worklist/?tab=notifications").get_data(as_text=True)
    assert "Emergency" in page and "Important" in page and "Normal" in page
    assert 'lang="en"' in page
