import { mount } from 'svelte';
import App from './App.svelte';
import { applyLangToDocument } from './lib/i18n.svelte.ts';
import './app.css';

// Before mounting, so a remembered English choice never flashes the Japanese title.
applyLangToDocument();

const target = document.getElementById('app');
if (target === null) throw new Error('index.html has no #app element to mount into');

export default mount(App, { target });
