# STM32F4: USART with SR/DR registers.
set(MCD_UART_IP usart_v1)
