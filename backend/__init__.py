"""Sanwei (三微): micro-wishes, micro-power and micro-services for urban communities, and the
star rating they feed. The application is assembled in `backend.app.create_app`."""

from backend.core import messages

# Field messages are copied into each schema field when its class is defined: they must be
# Chinese before any schema module is imported, so before anything else in the package.
messages.install()
