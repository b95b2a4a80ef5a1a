export { DemoAgent, spokenTime } from './demo-agent.ts';
