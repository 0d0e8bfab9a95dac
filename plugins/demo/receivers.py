import logging

from django.dispatch import receiver

from accounts.signals import user_registered

logger = logging.getLogger("plugins.demo")


@receiver(user_registered, dispatch_uid="plugins.demo.greet_new_user")
def greet_new_user(sender, user, **kwargs):
    """Logs a welcome for each new user; runs only while the demo plugin is enabled."""
    logger.info("demo plugin: welcome %s", user.email)
