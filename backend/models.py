"""Every model module, imported once so the metadata (and Alembic) sees every table."""

from backend.activities import models as activity_models  # noqa: F401
from backend.auth import models as auth_models  # noqa: F401
from backend.bookings import models as booking_models  # noqa: F401
from backend.calendar import models as calendar_models  # noqa: F401
from backend.core import limits as limit_models  # noqa: F401
from backend.double_reports import models as double_report_models  # noqa: F401
from backend.hours import models as hours_models  # noqa: F401
from backend.notifications import models as notification_models  # noqa: F401
from backend.orgs import models as org_models  # noqa: F401
from backend.people import models as people_models  # noqa: F401
from backend.polls import models as poll_models  # noqa: F401
from backend.qrcodes import models as qrcode_models  # noqa: F401
from backend.rating import models as rating_models  # noqa: F401
from backend.services import models as service_models  # noqa: F401
from backend.teams import models as team_models  # noqa: F401
from backend.wechat import models as wechat_models  # noqa: F401
from backend.wishes import models as wish_models  # noqa: F401
