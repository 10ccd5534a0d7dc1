"""Providers by channel, and callback verifiers by source. Built once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.channels.base import CallbackVerifier, ChannelProvider


@dataclass
class ProviderRegistry:
    providers: dict[str, ChannelProvider] = field(default_factory=dict)
    verifiers: dict[str, CallbackVerifier] = field(default_factory=dict)

    def add(self, provider: ChannelProvider) -> None:
        self.providers[provider.channel] = provider
        if hasattr(provider, "verify_callback") and getattr(provider, "source", None):
            self.add_verifier(provider)  # type: ignore[arg-type]

    def add_verifier(self, verifier: CallbackVerifier) -> None:
        self.verifiers[verifier.source] = verifier

    def for_channel(self, channel: str) -> ChannelProvider | None:
        return self.providers.get(channel)
