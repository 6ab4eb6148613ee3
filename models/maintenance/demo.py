"""Demo data: the government preset, one account per role and about 300 realistic cases.

Names, phone numbers, ID numbers and addresses are generated (Faker, zh_CN); no real person.
Everything goes through the service layer, so numbers and timelines are as in real use.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import sqlalchemy as sa
from faker import Faker

from .. import db
from ..base import to_local, utcnow
from ..callbacks import Callback, CallbackQuota, CallbackSchedule
from ..cases import Case
from ..categories import Category
from ..contacts import Call, Letter, Visit
from ..enums import (
    CallbackFollowUp,
    CallbackMethod,
    CallLine,
    CasePriority,
    CaseStatus,
    Gender,
    IdType,
    LetterForm,
    LetterOrigin,
    ReplyMethod,
    Satisfaction,
    VisitKind,
)
from ..operations.callbacks import (
    plan_scheduled_callbacks,
    record_callback,
    record_callback_edit,
)
from ..operations.contacts import register_contact
from ..operations.deadlines import run_escalations
from ..operations.parties import party_by_id_number, register_party
from ..operations.surveys import (
    ensure_owner_survey_template,
    order_rectification,
    record_survey_response,
)
from ..operations.users import create_user
from ..operations.workflow import perform
from ..parties import Party
from ..surveys import SurveyCampaign
from ..units import Unit
from ..users import Role, User
from ..validation import resident_id_check_char
from .presets import load_preset

#: username, full name, role code, unit name
DEMO_USERS = [
    ("admin", "系统管理员", "admin", "县信访局"),
    ("dengji", "登记员 王晓丽", "registrar", "县信访局"),
    ("xinfangban", "信访办 陈建国", "office", "县信访局"),
    ("lingdao", "分管领导 刘志强", "leader", "县政府领导"),
    ("fuzeren", "部门负责人 赵文斌", "dept_head", "县住房和城乡建设局"),
    ("chengban", "承办人 孙丽娟", "handler", "县住房和城乡建设局"),
    ("jiandu", "监督员 周明", "supervisor", "县信访局"),
]

#: Opening phrases of what people write or say; the subject's own details follow.
OPENINGS = [
    "本人是{place}居民，",
    "我家住{place}，",
    "我们是{place}的住户，",
    "本人在{place}工作，",
]
DETAILS = [
    "此事已持续较长时间，曾多次向有关单位反映，至今没有得到解决。",
    "给家人的生活带来很大影响，希望政府有关部门重视。",
    "相关单位答复说正在处理，但一直没有结果。",
    "周边群众意见很大，恳请领导过问。",
]
PLACES = [
    "城关镇滨河小区",
    "河西街道幸福里社区",
    "青山乡石门村",
    "城关镇建设路",
    "河西街道锦绣花园",
]

SUBJECTS = [
    ("房屋质量", "小区住宅楼外墙渗水，多次报修无果", "要求开发商尽快维修外墙并赔偿损失"),
    ("物业管理", "物业公司擅自提高物业费标准", "要求物业公司按合同收费，退还多收费用"),
    ("拆迁安置", "旧城改造项目安置房迟迟未交付", "要求明确交房时间并支付过渡费"),
    ("市政设施", "小区门口道路破损严重，雨天积水", "要求尽快修复道路和排水设施"),
    ("土地征收", "征地补偿款未按时足额发放", "要求发放剩余征地补偿款"),
    ("宅基地", "邻居建房占用本户宅基地", "要求相关部门查处并恢复原状"),
    ("拖欠工资", "建筑工地拖欠农民工工资三个月", "要求施工单位支付拖欠工资"),
    ("社会保险", "单位未为职工缴纳养老保险", "要求补缴社会保险"),
    ("噪声污染", "夜间工地施工噪声扰民", "要求限制夜间施工时间"),
    ("大气污染", "附近工厂排放异味气体", "要求环保部门检查处理"),
    ("食品安全", "在超市购买到过期食品", "要求查处并赔偿"),
    ("入学招生", "孩子就近入学被拒", "要求按政策安排就近入学"),
    ("医疗纠纷", "对医院诊疗过程有异议", "要求医院说明情况并处理相关人员"),
    ("低保救助", "家庭困难申请低保未获批准", "要求重新审核低保申请"),
    ("法律咨询", "咨询房屋继承相关政策", "希望得到政策解答"),
    ("合理化建议", "建议在老旧小区加装电梯", "希望政府出台加装电梯补贴政策"),
    ("违法建设", "举报小区楼顶违法搭建", "要求城管部门依法拆除"),
    ("土地承包", "村集体调整承包地不公", "要求依法保障承包经营权"),
]


def _id_number(fake: Faker, born: date, gender: Gender) -> str:
    area = fake.random_element(["520102", "520103", "520111", "522401", "430102", "110105"])
    order = fake.random_int(10, 99)
    sex_digit = fake.random_element([1, 3, 5, 7, 9] if gender == Gender.male else [0, 2, 4, 6, 8])
    first17 = f"{area}{born:%Y%m%d}{order:02d}{sex_digit}"
    return first17 + resident_id_check_char(first17)


def _person(fake: Faker, by) -> Party:
    gender = random.choice([Gender.male, Gender.female])
    name = fake.name_male() if gender == Gender.male else fake.name_female()
    age = random.randint(22, 78)
    born = date.today().replace(month=1, day=1) - timedelta(days=age * 365 + random.randint(0, 300))
    party = Party(
        name=name,
        gender=gender,
        age=age,
        phone=fake.phone_number(),
        address=fake.address().rsplit(" ", 1)[0],
        work_unit=random.choice([None, fake.company()]),
    )
    if random.random() < 0.7:
        party.id_type = IdType.resident_id
        party.id_number = _id_number(fake, born, gender)
        if party_by_id_number(party.id_number) is not None:
            party.id_number = None  # one person per ID number; a rare random repeat goes without
    return register_party(party, by=by)


def seed_demo(
    *,
    case_count: int = 300,
    password: str = "demo12345",  # noqa: S107 - the published demo password
    seed: int = 2026,
):
    """Load demo data unless cases already exist; return ``[(username, role name)]`` created."""
    load_preset("government")
    if db.session.scalar(sa.select(sa.func.count(Case.id))):
        return []
    random.seed(seed)
    Faker.seed(seed)
    fake = Faker("zh_CN")

    users: dict[str, User] = {}
    logins = []
    for username, full_name, role, unit_name in DEMO_USERS:
        user = db.session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            user = create_user(
                username=username,
                full_name=full_name,
                password=password,
                role_codes=[role],
                unit_name=unit_name,
            )
            logins.append((username, user.role_names))
        users[role] = user

    registrar, office = users["registrar"], users["office"]
    categories = {c.name: c for c in db.session.scalars(sa.select(Category))}
    departments = db.session.scalars(
        sa.select(Unit).where(Unit.parent_id.is_not(None)).order_by(Unit.id)
    ).all()
    forwarding_bodies = db.session.scalars(sa.select(Unit).where(Unit.kind == "higher_body")).all()

    people = [_person(fake, registrar) for _ in range(int(case_count * 0.8))]
    for party in random.sample(people, k=max(1, len(people) // 25)):
        party.is_repeat_petitioner = True

    now = utcnow()
    cases: list[Case] = []
    for index in range(case_count):
        # Spread over the last year, oldest first, so numbers rise with time.
        received = _office_hours(now - timedelta(days=365 * (case_count - index) / case_count))
        category_name, subject, demands = random.choice(SUBJECTS)
        person = random.choice(people)
        anonymous = random.random() < 0.04
        opening = random.choice(OPENINGS).format(place=random.choice(PLACES))
        new_case = Case(
            subject=subject,
            content=f"{opening}{subject}。{random.choice(DETAILS)}",
            demands=demands,
            category=categories.get(category_name),
            priority=random.choices(list(CasePriority), weights=[80, 15, 5])[0],
            is_anonymous=anonymous,
            is_important=random.random() < 0.1,
            # A handful of 越级访 and 异常访 so the dashboard and annual summary show them;
            # picked by position, not drawn, so the rest of the demo stays as it was.
            is_beyond_level=index % 75 == 11,
            is_abnormal=index % 90 == 25,
            received_at=received,
        )
        kind = random.choices(["letter", "visit", "call"], weights=[45, 30, 25])[0]
        contact = _contact(
            kind, fake, received, None if anonymous else person, registrar, forwarding_bodies
        )
        register_contact(contact, by=registrar, new_case=new_case, at=received)
        case = contact.case
        _advance(case, users, random.choice(departments), now)
        cases.append(case)

    # Repeat contacts: the same people come back about the same matter.
    for case in random.sample(cases, k=case_count // 8):
        person = None if case.is_anonymous or not case.petitioners else case.petitioners[0]
        later = min(_office_hours(case.received_at + timedelta(days=random.randint(3, 40))), now)
        kind = random.choice(["letter", "visit", "call"])
        contact = _contact(kind, fake, later, person, registrar, forwarding_bodies)
        register_contact(contact, by=registrar, case=case, at=later)

    # Closed cases are called back (closing planned a task from the callback clock); most are
    # done, the most recent ones still wait, so the callback list has due and overdue tasks.
    closed = [case for case in cases if case.closed_at is not None]
    still_open = [case for case in cases if case.closed_at is None]
    callers = [office, users["dept_head"], users["handler"]]
    for case in closed + random.sample(still_open, k=min(len(still_open), case_count // 20)):
        recent = case.closed_at is not None and case.closed_at > now - timedelta(days=75)
        if recent and random.random() < 0.5:
            continue  # its planned task is still open
        start = case.closed_at or case.received_at
        done = min(_office_hours(start + timedelta(days=random.randint(1, 6))), now)
        finished = done < now - timedelta(days=1)
        satisfaction = (
            random.choices(list(Satisfaction), weights=[70, 20, 10])[0] if finished else None
        )
        values = {
            "due_on": (case.received_at + timedelta(days=random.randint(7, 30))).date(),
            "method": random.choice(
                [CallbackMethod.phone, CallbackMethod.home_visit, CallbackMethod.phone]
            ),
            "caller": random.choices(callers, weights=[35, 15, 50])[0],
            "person_reached": case.petitioner_names if finished else None,
            "charges_checked": finished and random.random() < 0.6,
            "signature_obtained": finished and random.random() < 0.7,
            "done_at": done if finished else None,
            "satisfaction": satisfaction,
            "opinion": random.choice(["对处理结果满意", "希望加快进度", "问题已解决", "仍有意见"])
            if finished
            else None,
            "problem_remains": satisfaction == Satisfaction.dissatisfied,
        }
        planned = db.session.scalar(
            sa.select(Callback).where(
                Callback.case_id == case.id,
                Callback.done_at.is_(None),
                Callback.is_deleted.is_(False),
            )
        )
        if planned is not None and finished:
            # The task closing planned is the one carried out.
            del values["due_on"]
            for key, value in values.items():
                setattr(planned, key, value)
            record_callback_edit(planned, by=office, at=done)
        elif planned is None:
            record_callback(Callback(case=case, **values), by=office, at=done)
    db.session.flush()
    _seed_callback_programme(users, closed, now)
    _seed_owner_survey(fake, users["office"], now)
    # Warn about what is already late, as the scheduled job would have done.
    run_escalations(now)
    return logins


def _seed_callback_programme(users: dict, closed: list[Case], now) -> None:
    """Quotas per role, a delivered project on a routine schedule, one rectification notice."""
    office = users["office"]
    roles = {role.code: role for role in db.session.scalars(sa.select(Role))}
    for code, percent in (("dept_head", 10), ("office", 30), ("handler", 60)):
        if code in roles:
            db.session.add(CallbackQuota(role=roles[code], min_percent=percent))
    today = to_local(now).date()
    for name, months_ago in (("滨河小区二期（交付项目）", 7), ("锦绣花园三期（交付项目）", 20)):
        delivered = today - timedelta(days=months_ago * 30)
        db.session.add(
            CallbackSchedule(
                name=name,
                contact="业主委员会",
                delivered_on=delivered,
                caller=users["handler"],
                method=CallbackMethod.phone,
                created_by_id=office.id,
            )
        )
    db.session.flush()
    plan_scheduled_callbacks(today, by=office)
    # A callback that finds a leak still there: a written notice, not a reopened case.
    candidates = [
        case
        for case in closed
        if case.status == CaseStatus.closed
        and not case.needs_callback_before_closing
        and "渗水" in case.subject
    ]
    if candidates:
        case = candidates[-1]
        done = now - timedelta(hours=30)
        record_callback(
            Callback(
                case=case,
                method=CallbackMethod.home_visit,
                caller=users["handler"],
                person_reached=case.petitioner_names,
                done_at=done,
                satisfaction=Satisfaction.basically_satisfied,
                opinion="维修后仍有渗水，要求再次维修",
                problem_remains=True,
                follow_up=CallbackFollowUp.rectification,
            ),
            by=office,
            at=done,
        )


OWNER_OPINIONS = [
    "希望加强小区夜间巡逻",
    "垃圾清运不够及时",
    "绿化带缺少修剪",
    "电梯维修响应慢",
    "停车位紧张，希望合理规划",
    "物业服务态度较好",
]


def _seed_owner_survey(fake: Faker, office, now) -> None:
    """The yearly 8-item owner survey with 180 returned forms (S17)."""
    template = ensure_owner_survey_template()
    today = to_local(now).date()
    start = today - timedelta(days=40)
    campaign = SurveyCampaign(
        template=template,
        name=f"{start.year}年度业主意见调查",
        starts_on=start,
        ends_on=start + timedelta(days=30),
        forms_sent=220,
        created_by_id=office.id,
    )
    db.session.add(campaign)
    db.session.flush()
    # Repair service and greening do worse than the rest, as the survey is meant to reveal.
    weights = {"维修服务": [45, 30, 25], "绿化管理": [50, 30, 20]}
    for index in range(180):
        ratings = {}
        for item in template.items:
            if random.random() < 0.03:
                continue  # left blank on the paper form
            ratings[item.id] = random.choices(
                list(Satisfaction), weights=weights.get(item.title, [70, 22, 8])
            )[0]
        record_survey_response(
            campaign,
            by=office,
            ratings=ratings,
            returned_on=min(start + timedelta(days=index % 30), today),
            respondent=f"{random.randint(1, 30)}栋{random.randint(1, 18)}0{random.randint(1, 4)}",
            opinion=random.choice(OWNER_OPINIONS) if random.random() < 0.3 else None,
        )
    items = {item.title: item for item in template.items}
    order_rectification(
        campaign,
        by=office,
        item=items["维修服务"],
        addressee="工程维修部",
        content="维修服务满意率低于 80%：报修 24 小时内上门，维修后 1 周内回访。",
        due_on=today + timedelta(days=30),
    )


def _advance(case: Case, users: dict, unit: Unit, now) -> None:
    """Take a demo case through real workflow steps, as far as its age suggests.

    Old cases are closed; recent ones stop at intake, leader reading or handling, so the work
    list has items waiting, due soon and overdue.
    """
    age = (now - case.received_at).days
    stage = random.random()
    if age < 60 and stage < 0.15:
        return  # still waiting for intake
    when = case.received_at
    if age >= 60 and stage < 0.05:
        # A repeat of an answered matter, kept (存信) for the yearly destruction by region.
        perform(
            "keep",
            case,
            by=users["registrar"],
            region=random.choice(KEPT_REGIONS),
            year=to_local(case.received_at).year,
            note="重复来信，原事项已答复",
            at=min(when + timedelta(hours=random.randint(1, 8)), now),
        )
        return

    def later(hours_low: int, hours_high: int):
        nonlocal when
        when = min(when + timedelta(hours=random.randint(hours_low, hours_high)), now)
        return when

    admin, leader, office = users["admin"], users["leader"], users["office"]
    housing = unit.name == "县住房和城乡建设局"
    handler = users["handler"] if housing else admin
    head = users["dept_head"] if housing else admin
    perform("accept", case, by=users["registrar"], at=later(1, 8))
    if age < 60 and stage < 0.25:
        perform("send_for_reading", case, by=office, leader=leader, at=later(1, 6))
        return
    perform(
        "instruct",
        case,
        by=leader,
        instruction=random.choice(INSTRUCTIONS).format(unit=unit.name),
        handling_unit=unit,
        handler=users["handler"] if housing else None,
        supervised=random.random() < 0.15,
        at=later(8, 60),
    )
    if age < 30 and stage < 0.45:
        return  # assigned, not yet signed for
    perform("acknowledge", case, by=handler, at=later(1, 20))
    if age < 45 and stage < 0.8:
        if random.random() < 0.3:
            perform("urge", case, by=office, note="请抓紧办理并按时报结", at=later(24, 72))
        return  # in progress; some of these run past their deadline
    perform(
        "report_result",
        case,
        by=handler,
        facts="经调查核实，反映的情况基本属实。",
        decision="已责成相关单位限期整改，并向信访人说明处理情况。",
        at=later(24, 120),
    )
    perform("approve_result", case, by=head, at=later(2, 24))
    if not case.is_anonymous:
        perform(
            "reply",
            case,
            by=office,
            method=random.choice(list(ReplyMethod)),
            text="您反映的问题已办理，处理情况如下：已责成相关单位限期整改。",
            at=later(4, 48),
        )
    if case.needs_callback_before_closing:
        # Group visits are re-visited before they may close.
        visited = later(24, 72)
        record_callback(
            Callback(
                case=case,
                method=CallbackMethod.on_site,
                caller=office,
                person_reached=case.petitioner_names,
                done_at=visited,
                satisfaction=Satisfaction.satisfied,
                opinion="整改到位",
            ),
            by=office,
            at=visited,
        )
    perform("close", case, by=leader, opinion="同意办结。", at=later(4, 48))


KEPT_REGIONS = ["城关镇", "河西乡", "梅溪镇"]

INSTRUCTIONS = [
    "请{unit}认真核实，依法依规处理，按时报结。",
    "请{unit}调查处理，并将结果书面报县信访局。",
    "请{unit}牵头办理，做好解释疏导工作。",
]


def _office_hours(when):
    """Move a time to a random moment of that local day's office hours (8:30–17:30)."""
    local = to_local(when)
    minute = random.randint(8 * 60 + 30, 17 * 60 + 30)
    return local.replace(hour=minute // 60, minute=minute % 60, second=0, microsecond=0)


def _contact(kind, fake, when, person, registrar, forwarding_bodies):
    if kind == "letter":
        origin = random.choices(list(LetterOrigin), weights=[80, 15, 5])[0]
        return Letter(
            writer=person,
            received_at=when,
            letter_date=(when - timedelta(days=random.randint(1, 5))).date(),
            form=random.choices(list(LetterForm), weights=[60, 20, 5, 15])[0],
            origin=origin,
            forwarding_unit=random.choice(forwarding_bodies)
            if origin != LetterOrigin.direct
            else None,
            envelope_intact=random.random() > 0.05,
            stamp_intact=random.random() > 0.05,
            opened_at=min(when + timedelta(hours=1), utcnow()),
        )
    if kind == "visit":
        group = random.random() < 0.1
        return Visit(
            visitor=person,
            visited_at=when,
            kind=VisitKind.group if group else VisitKind.individual,
            head_count=random.randint(5, 30) if group else 1,
            purpose="当面反映问题",
            receptionist=registrar,
            interview_record="来访人当面陈述了反映的问题，接待人员做了记录并当面核对，"
            "告知将按规定转有关部门办理并在期限内答复。",
        )
    return Call(
        caller=person,
        called_at=when,
        line=random.choice([CallLine.office_line, CallLine.hotline]),
        line_number=random.choice(["12345", "0851-88886666"]),
        caller_number=person.phone if person else None,
        taken_by=registrar,
        record="来电人反映了上述问题，接听人已记录并告知办理程序和答复期限。",
    )
