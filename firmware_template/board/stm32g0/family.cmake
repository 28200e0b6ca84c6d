# STM32G0: USART with ISR/RDR/TDR registers.
set(MCD_VENDOR stm32)      # board/stm32/: gpio.h and the USART drivers of every STM32 series
set(MCD_UART_IP usart_v2)
