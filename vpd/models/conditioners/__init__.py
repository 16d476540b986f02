from .class_embedding_conditioner import ClassEmbeddingConditioner
from .meta_prompt_conditioner import MetaPromptConditioner
from .sentence_conditioner import SentenceConditioner
from .text_adapter import TextAdapter

__all__ = [
    'TextAdapter', 'ClassEmbeddingConditioner',
    'MetaPromptConditioner', 'SentenceConditioner'
]
