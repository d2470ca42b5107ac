from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The usage page (chat) learns to group by API token from here: chat never imports api.
        from chat.usage import GROUPINGS, Grouping

        GROUPINGS["api_token"] = Grouping(
            label="API token",
            paths={
                "answers": (
                    "conversation__api_origin__token_id",
                    "conversation__api_origin__token__prefix",
                ),
            },
            none_label="(web and command line)",
        )
