import { render } from 'preact';
import { Shell } from './app';
import './styles.css';

render(<Shell />, document.getElementById('app')!);
