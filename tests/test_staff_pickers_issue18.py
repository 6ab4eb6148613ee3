"""Issue 18: the online portal's system account registers cases but is nobody's colleague:
no staff picker offers it (one rule, ``is_staff`` beside its SQL twin ``staff_condition``)."""

from admin_views.lookups import ActiveUserLookup
from admin_views.workflow_forms import _active_users
from models import User, db
from models.operations.portal import portal_actor
from models.users import is_staff, staff_condition


def test_the_portal_account_is_not_staff_and_colleagues_are(app, government, create_user):
    portal = portal_actor()
    handler = create_user("handler")
    gone = create_user("handler")
    gone.is_active_user = False
    db.session.commit()

    in_sql = set(db.session.scalars(db.select(User.id).where(staff_condition())))
    everyone = db.session.scalars(db.select(User)).all()
    assert in_sql == {user.id for user in everyone if is_staff(user)}
    assert handler.id in in_sql
    assert portal.id not in in_sql
    assert gone.id not in in_sql


def test_no_picker_offers_the_portal_account(app, government, create_user):
    portal = portal_actor()
    handler = create_user("handler")
    db.session.commit()
    offered = {user.id for user in _active_users()}
    assert handler.id in offered and portal.id not in offered
    looked_up = {
        user.id
        for user in ActiveUserLookup("user", db.session, User, fields=["full_name"]).get_query()
    }
    assert handler.id in looked_up and portal.id not in looked_up
