from rest_framework import serializers


class AgentOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    when_to_use = serializers.CharField()
    needs = serializers.CharField()
    produces = serializers.CharField()
    capabilities = serializers.JSONField()
    restricted = serializers.BooleanField()
    builtin = serializers.BooleanField(source="is_builtin")
    phase = serializers.CharField()
    default_dependencies = serializers.JSONField()
    artifact_kinds = serializers.JSONField()


class AgentListInput(serializers.Serializer):
    organization = serializers.SlugField()
