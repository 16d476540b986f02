from .class_embedding_conditioner import ClassEmbeddingConditioner
from .text_adapter import TextAdapter

__all__ = ['TextAdapter', 'ClassEmbeddingConditioner']
