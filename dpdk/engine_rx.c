/* engine_rx.c: placeholder until its code lands (see the header). */
typedef int sbb_placeholder_engine_rx;
