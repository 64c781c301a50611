/* engine_tx.c: placeholder until its code lands (see the header). */
typedef int sbb_placeholder_engine_tx;
