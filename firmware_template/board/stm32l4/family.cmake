# STM32L4: USART with ISR/RDR/TDR registers.
set(MCD_UART_IP usart_v2)
