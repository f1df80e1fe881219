"""One cog per user-facing feature."""
from .dictionary import DictionaryCog
from .model import ModelCog
from .read_aloud import ReadAloudCog
from .say import SayCog
from .server_settings import OptOutCog, ServerSettingsCog
from .voice_channel import VoiceChannelCog
from .voice_profile import VoiceProfileCog

ALL_COGS = (SayCog, VoiceChannelCog, ReadAloudCog, VoiceProfileCog, DictionaryCog, ServerSettingsCog, OptOutCog,
            ModelCog)
