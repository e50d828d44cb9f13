"""From facts to captions with an LLM: prompts, generators, and (later) LoRA fine-tuning."""
