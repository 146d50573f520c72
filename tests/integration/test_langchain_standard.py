"""LangChain's own standard chat-model integration tests (langchain-tests), run through
ChatOpenAI against the simulator: invoke, stream, batch, usage, tool calling, structured
output (json_schema and function_calling) and JSON mode.

The simulator is no model: it answers from a bank of sentences and fills schemas with
deterministic values. Tests whose check needs a model that understands the prompt are
skipped below, each with the reason.
"""
import pytest
from langchain_openai import ChatOpenAI
from langchain_tests.integration_tests import ChatModelIntegrationTests

NEEDS_A_MODEL = "needs a model that understands the prompt: "
SKIPS = {
    "test_tool_calling": NEEDS_A_MODEL + "it asserts the call's arguments are {'input': 3}, read from "
                         "'magic_function(3)' in the prompt (the simulator's arguments are schema-valid, not read)",
    "test_tool_calling_async": NEEDS_A_MODEL + "the async twin of test_tool_calling (arguments read from the prompt)",
    "test_unicode_tool_call_integration": NEEDS_A_MODEL + "it asserts the tool is called with the Chinese name "
                                          "written in the prompt's prose (the simulator fills arguments from its "
                                          "own sentence bank)",
}


class TestChatOpenAIOnSimulator(ChatModelIntegrationTests):
    base_url = None

    @pytest.fixture(autouse=True)
    def _on_simulator(self, request, sim):
        type(self).base_url = sim.base_url
        reason = SKIPS.get(request.node.originalname)
        if reason:
            pytest.skip(reason)

    @property
    def chat_model_class(self) -> type[ChatOpenAI]:
        return ChatOpenAI

    @property
    def chat_model_params(self) -> dict:
        return {"model": "sim", "base_url": self.base_url, "api_key": "test-key", "stream_usage": True}

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "instant"  # another simulator model (latency profile)
