"""Create (or reset) the demo logins and print them: `manage.py demo_users`.

Every login shares one password: `demo-2026!`, or the value of the DEMO_PASSWORD
environment variable. Run it again after changing the password or reloading the demo data.
"""

import os

from django.core.management.base import BaseCommand

from web import demo


class Command(BaseCommand):
    help = "Create or reset the demo logins (admin, demo, manager, agent, ...) and print them."

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_PASSWORD") or demo.DEFAULT_DEMO_PASSWORD
        source = "DEMO_PASSWORD" if os.environ.get("DEMO_PASSWORD") else "the default"
        rows = demo.demo_users_ensure(password=password)
        width = max(len(password), len("password"))
        self.stdout.write(f"Demo logins (password from {source}):")
        self.stdout.write(f"  {'username':<10} {'password':<{width}}  {'role':<14} company")
        for username, role, company in rows:
            where = company or "(not created: load the demo data with seed_demo first)"
            self.stdout.write(f"  {username:<10} {password:<{width}}  {role:<14} {where}")
