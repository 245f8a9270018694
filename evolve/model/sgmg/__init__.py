"""SgMg: spectrum-guided multi-granularity referring VOS (Miao et al., ICCV 2023), with events.

Modules: ``config`` (typed config), ``text`` (encoders), ``encoder`` (ResNet + event fusion),
``spectral`` and ``fusion`` (SCF), ``transformer`` (encoder, query decoder), ``heads``
(dynamic mask head, MSO), ``network`` (:class:`SgMg`), ``matcher`` and ``criterion`` (training),
``train_wrapper``, ``spec`` (registry entry). Nothing is imported at package import time.
"""
