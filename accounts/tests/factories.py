import factory

from accounts.models import User, UserDetails, UserRole, UserStatus

DEFAULT_PASSWORD = "Passw0rd!x"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    status = UserStatus.ACTIVE
    role = UserRole.USER

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or DEFAULT_PASSWORD)
        if create:
            self.save(update_fields=["password"])

    @factory.post_generation
    def details(self, create, extracted, **kwargs):
        if create:
            UserDetails.objects.create(user=self, **(extracted or {}))


class AdminFactory(UserFactory):
    email = factory.Sequence(lambda n: f"staff{n}@example.com")
    role = UserRole.ADMIN
